#!/usr/bin/env python3
"""A Kubernetes API test server: the one stand-in of the suite (no API server can be installed on
these machines). It serves, over HTTPS with bearer-token auth, the real paths and object shapes the
plugins use, and behaves as the real server does on them:

  core/v1 events              the same verbs (multus posts AddedInterface events)
  core/v1 pods                GET, LIST (also across namespaces: /api/v1/pods), POST (create), PUT (update, resourceVersion checked: 409),
                              PATCH (merge-patch+json, json-patch+json with `test`: 422), DELETE;
                              the same on the pods/status subresource (metadata changes kept)
  k8s.cni.cncf.io/v1          network-attachment-definitions: the same verbs
  whereabouts.cni.cncf.io/v1alpha1  ippools, overlappingrangeipreservations: the same verbs
  coordination.k8s.io/v1      leases (upstream whereabouts v0.6's leader election): the same verbs
Errors are metav1.Status objects with the real reasons (NotFound, AlreadyExists, Conflict,
Invalid, Unauthorized). Objects get uid, resourceVersion (one counter for all, as etcd's
revision), creationTimestamp and generation.

Test controls (not Kubernetes paths): POST /_test/faults {"method","path","status","count"}
makes the next `count` matching requests answer `status` (500/503 …; "drop": true closes the
connection without an answer instead, "reset": true resets it); GET /_test/requests lists the
requests served (with the number of the connection each came on); POST /_test/age
{"path","seconds"} moves an object's creationTimestamp back; POST /_test/reset clears faults and
the log.

  kube-api-server.py --cert server.pem --key server.key --token-file token [--port 0]
prints "listening <port>" once it accepts connections.
"""
import argparse, json, socket, ssl, struct, sys, threading, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RESOURCES = {
    # (group prefix, version, plural) -> kind
    ("api", "v1", "pods"): ("Pod", "v1"),
    ("api", "v1", "events"): ("Event", "v1"),
    ("apis/k8s.cni.cncf.io", "v1", "network-attachment-definitions"): ("NetworkAttachmentDefinition", "k8s.cni.cncf.io/v1"),
    ("apis/whereabouts.cni.cncf.io", "v1alpha1", "ippools"): ("IPPool", "whereabouts.cni.cncf.io/v1alpha1"),
    ("apis/whereabouts.cni.cncf.io", "v1alpha1", "overlappingrangeipreservations"):
        ("OverlappingRangeIPReservation", "whereabouts.cni.cncf.io/v1alpha1"),
    # Upstream whereabouts v0.6's leader election (for side-by-side benchmarks and the shared-pool test).
    ("apis/coordination.k8s.io", "v1", "leases"): ("Lease", "coordination.k8s.io/v1"),
}

lock = threading.Lock()
store = {}          # (plural, namespace, name) -> object
revision = [1000]
faults = []         # {"method","path","status","count"}
requests_log = []
encoded = {}        # store key -> (object, its JSON): served as kept, as the API server's watch cache keeps objects serialized
connections = [0]  # connections accepted so far (each request logs the number of its own)


def status(code, reason, message, name="", kind=""):
    return code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": message, "reason": reason, "details": {"name": name, "kind": kind}, "code": code}


def parse_path(path):
    """-> (plural, namespace, name or None, subresource or None) or None."""
    parts = path.split("?")[0].strip("/").split("/")
    for (prefix, version, plural), _ in RESOURCES.items():
        pre = prefix.split("/") + [version, "namespaces"]
        if parts[:len(pre)] != pre:
            continue
        rest = parts[len(pre):]
        if len(rest) >= 2 and rest[1] == plural:
            ns = rest[0]
            name = rest[2] if len(rest) >= 3 else None
            sub = rest[3] if len(rest) >= 4 else None
            if len(rest) > 4:
                return None
            return plural, ns, name, sub
    return None


def kind_of(plural):
    for (prefix, version, p), k in RESOURCES.items():
        if p == plural:
            return k
    return ("", "")


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return clone(patch)
    out = clone(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def pointer(path):
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def clone(o):
    """A deep copy of a JSON value (several times faster than copy.deepcopy)."""
    return json.loads(json.dumps(o))


def dumps(o):
    """JSON as the API server writes it (Go's encoding/json: no spaces)."""
    return json.dumps(o, separators=(",", ":")).encode()


def encoding(key, obj):
    """The JSON of the stored object `obj` under `key`, made once per version of it."""
    hit = encoded.get(key)
    if hit is not None and hit[0] is obj:
        return hit[1]
    body = dumps(obj)
    encoded[key] = (obj, body)
    return body


def shallow(o):
    return dict(o) if isinstance(o, dict) else list(o) if isinstance(o, list) else o


def json_patch(doc, ops):
    """RFC 6902 on a copy of `doc`: only the objects and arrays on the paths the operations change
    are copied (a pool of 1,000 allocations copied whole cost more than the rest of a PATCH), the
    rest is shared with `doc` — nothing here changes a stored object in place —, and a patch that
    fails leaves `doc` as it was."""
    doc = shallow(doc)
    copied = {id(doc)}
    for op in ops:
        keys = pointer(op["path"])
        o = op["op"]
        parent = doc
        for k in keys[:-1]:
            key = int(k) if isinstance(parent, list) else k
            child = parent[key]
            if o != "test" and id(child) not in copied:
                child = shallow(child)
                copied.add(id(child))
                parent[key] = child
            parent = child
        last = keys[-1] if keys else None
        if o == "test":
            cur = parent[int(last)] if isinstance(parent, list) else parent.get(last, None) if isinstance(parent, dict) else None
            if isinstance(parent, dict) and last not in parent:
                # As the API server's json-patch library: a missing member tests equal to null
                # (upstream whereabouts guards every "add" with such a test).
                if op.get("value") is not None:
                    raise ValueError("test failed: %s missing" % op["path"])
                continue
            if cur != op.get("value"):
                raise ValueError("test failed: %s" % op["path"])
        elif o in ("add", "replace"):
            if isinstance(parent, list):
                if last == "-":
                    parent.append(op["value"])
                else:
                    parent.insert(int(last), op["value"]) if o == "add" else parent.__setitem__(int(last), op["value"])
            else:
                if o == "replace" and last not in parent:
                    raise ValueError("replace of missing %s" % op["path"])
                parent[last] = op["value"]
        elif o == "remove":
            if isinstance(parent, list):
                del parent[int(last)]
            else:
                if last not in parent:
                    raise ValueError("remove of missing %s" % op["path"])
                del parent[last]
        else:
            raise ValueError("unsupported op %s" % o)
    return doc


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "swift-cni-kube-api-test/1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        with lock:
            connections[0] += 1
            self.connection_number = connections[0]
        # Replies in one segment: without it a TLS 1.3 reply waits 40 ms for a delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def reply(self, code, obj):
        body = obj if isinstance(obj, bytes) else dumps(obj)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self, method):
        data = self.body()
        path = self.path.split("?")[0]
        with lock:
            requests_log.append({"method": method, "path": path, "connection": self.connection_number})
        if path.startswith("/_test/"):
            return self.control(method, path, data)
        if self.headers.get("Authorization", "") != "Bearer " + self.server.token():
            return self.reply(*status(401, "Unauthorized", "Unauthorized"))
        with lock:
            for f in faults:
                if f["count"] > 0 and f.get("method", method) == method and path.startswith(f.get("path", "")):
                    f["count"] -= 1
                    if f.get("drop") or f.get("reset"):
                        # Closed without an answer (a server that closed the kept-alive
                        # connection in between): nothing served. "reset": with an RST, as
                        # a server's kernel answers a request that arrived after the close.
                        if f.get("reset"):
                            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.close_connection = True
                        return
                    return self.reply(*status(f["status"], "InternalError" if f["status"] == 500 else "ServiceUnavailable",
                                              "injected fault"))
        if path == "/api/v1/pods" and method == "GET":
            # The cluster-wide list (whereabouts reconcile).
            with lock:
                items = [o for (pl, _, _), o in sorted(store.items()) if pl == "pods"]
                return self.reply(200, {"kind": "PodList", "apiVersion": "v1",
                                        "metadata": {"resourceVersion": str(revision[0])}, "items": items})
        p = parse_path(path)
        if p is None:
            return self.reply(*status(404, "NotFound", "the server could not find the requested resource"))
        try:
            body = json.loads(data) if data else None
        except ValueError as e:
            return self.reply(*status(400, "BadRequest", "invalid JSON: %s" % e))
        with lock:
            code, obj = self.serve(method, p, body)
        self.reply(code, obj)

    def serve(self, method, p, body):
        plural, ns, name, sub = p
        kind, api_version = kind_of(plural)
        key = (plural, ns, name)
        if name is None:
            if method == "GET":
                head = dumps({"kind": kind + "List", "apiVersion": api_version, "metadata": {"resourceVersion": str(revision[0])}})
                items = [encoding(k, o) for k, o in sorted(store.items()) if k[0] == plural and k[1] == ns]
                return 200, head[:-1] + b',"items":[' + b",".join(items) + b"]}"
            if method == "POST":
                return self.create(plural, ns, body, kind, api_version)
            return status(405, "MethodNotAllowed", "method not allowed")
        cur = store.get(key)
        if method == "GET":
            if cur is None:
                return status(404, "NotFound", '%s "%s" not found' % (plural, name), name, plural)
            return 200, encoding(key, cur)
        if method == "DELETE":
            if cur is None:
                return status(404, "NotFound", '%s "%s" not found' % (plural, name), name, plural)
            del store[key]
            encoded.pop(key, None)
            return 200, cur
        if cur is None:
            return status(404, "NotFound", '%s "%s" not found' % (plural, name), name, plural)
        if method == "PUT":
            rv = (body or {}).get("metadata", {}).get("resourceVersion")
            if rv != cur["metadata"]["resourceVersion"]:
                return status(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been modified; '
                                               'please apply your changes to the latest version and try again' % (plural, name),
                              name, plural)
            new = body
        elif method == "PATCH":
            ctype = self.headers.get("Content-Type", "")
            try:
                if ctype.startswith("application/merge-patch+json"):
                    new = merge_patch(cur, body)
                elif ctype.startswith("application/json-patch+json"):
                    new = json_patch(cur, body)
                else:
                    return status(415, "UnsupportedMediaType", "unsupported patch type %s" % ctype)
            except (ValueError, KeyError, IndexError, TypeError) as e:
                return status(422, "Invalid", "the server rejected our request due to an error in our request: %s" % e,
                              name, plural)
        else:
            return status(405, "MethodNotAllowed", "method not allowed")
        return self.update(key, cur, new, sub)

    def create(self, plural, ns, body, kind, api_version):
        name = (body or {}).get("metadata", {}).get("name", "")
        if not name:
            return status(422, "Invalid", "metadata.name: Required value")
        if (plural, ns, name) in store:
            return status(409, "AlreadyExists", '%s "%s" already exists' % (plural, name), name, plural)
        obj = body   # this request's own, parsed from its body
        obj["kind"], obj["apiVersion"] = kind, api_version
        meta = obj.setdefault("metadata", {})
        revision[0] += 1
        meta.update({"namespace": ns, "uid": str(uuid.uuid4()), "resourceVersion": str(revision[0]),
                     "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "generation": 1})
        store[(plural, ns, name)] = obj
        return 201, encoding((plural, ns, name), obj)

    def update(self, key, cur, new, sub):
        # `new` is this request's own (its body, or a patch's copy of `cur`, which shares what it
        # did not change): not copied again, but its metadata is, which is changed here.
        if not isinstance(new, dict) or not isinstance(new.get("metadata", {}), dict):
            return status(422, "Invalid", "the object or its metadata is not a JSON object")
        new = dict(new)
        meta = new["metadata"] = dict(new.get("metadata") or {})
        # Identity and server-owned fields stay; the status subresource keeps spec, the main
        # resource keeps status (as the real strategies do); metadata changes apply to both.
        for f in ("name", "namespace", "uid", "creationTimestamp"):
            meta[f] = cur["metadata"][f]
        if sub == "status":
            if "spec" in cur:
                new["spec"] = cur["spec"]
        elif "status" in cur:
            new["status"] = cur["status"]
        new["kind"], new["apiVersion"] = cur["kind"], cur["apiVersion"]
        revision[0] += 1
        meta["resourceVersion"] = str(revision[0])
        store[key] = new
        return 200, encoding(key, new)

    def control(self, method, path, data):
        with lock:
            if path == "/_test/faults" and method == "POST":
                faults.append(json.loads(data))
                return self.reply(200, {"faults": faults})
            if path == "/_test/requests" and method == "GET":
                return self.reply(200, {"requests": requests_log})
            if path == "/_test/age" and method == "POST":
                # {"path": object path, "seconds": N}: the object was created N seconds earlier.
                req = json.loads(data)
                p = parse_path(req["path"])
                key = (p[0], p[1], p[2]) if p else None
                obj = store.get(key)
                if obj is None:
                    return self.reply(404, {})
                then = time.gmtime(time.time() - req["seconds"])
                # A new object, not a change in place: stored objects share parts between
                # versions, and their JSON is kept per object (`encoding`).
                obj = store[key] = dict(obj, metadata=dict(obj["metadata"], creationTimestamp=time.strftime("%Y-%m-%dT%H:%M:%SZ", then)))
                return self.reply(200, obj)
            if path == "/_test/reset" and method == "POST":
                faults.clear()
                requests_log.clear()
                return self.reply(200, {})
        self.reply(404, {})

    def do_GET(self): self.handle_any("GET")
    def do_POST(self): self.handle_any("POST")
    def do_PUT(self): self.handle_any("PUT")
    def do_PATCH(self): self.handle_any("PATCH")
    def do_DELETE(self): self.handle_any("DELETE")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def token(self):
        with open(self.token_file) as f:
            return f.read().strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.token_file = a.token_file
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("listening %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
