import Whereabouts
import Basics
import CNI
import Glibc
import HTTPBridge
import Kubernetes
import LinuxSystem
import NIOCore
import NIOSSL

/// What etcd did not do, with its CNI code: no endpoint answered (11), or one answered with an
/// error (101; 7 for a config etcd refuses, such as bad credentials).
struct EtcdError: Error, CustomStringConvertible, CNIErrorConvertible {
    enum Kind { case unreachable, refused, configuration }
    let kind: Kind
    let message: String

    var description: String { message }
    var cniError: CNIError {
        switch kind {
        case .unreachable: return CNIError(.tryAgainLater, "etcd unreachable", details: message)
        case .configuration: return CNIError(.invalidNetworkConfig, "etcd client configuration", details: message)
        case .refused: return CNIError(.systemFailure, "etcd refused the request", details: message)
        }
    }
}

/// A small client of etcd's v3 API in its own protocol, gRPC (as upstream's clientv3 speaks it):
/// `KV/Range`, `KV/Txn`, `Auth/Authenticate`, `Maintenance/Status`, their protobuf messages
/// written and read here field by field, over the shared HTTP/2 bridge — one connection per
/// process, TLS with ALPN h2 or cleartext with prior knowledge. (etcd's JSON gateway cost etcd
/// twice the CPU per call: a new HTTP/1.1 connection ~1.0 ms and a call ~0.45–0.75 ms, against
/// ~0.65 ms and ~0.2–0.3 ms in gRPC, measured on these machines; and an etcd may run without
/// it.) Endpoints are tried in order; one that does not answer is skipped for the rest of the
/// process (failover).
final class EtcdClient {
    struct KeyValue {
        var key: String
        var value: [UInt8]
        var modRevision: Int64
        var version: Int64
        var text: String { String(decoding: value, as: UTF8.self) }
    }

    /// One comparison of a transaction.
    enum Compare {
        case modRevision(String, Int64)
        case absent(String)
        case value(String, [UInt8])
    }

    /// One operation of a transaction.
    enum Operation {
        case put(String, [UInt8])
        case delete(String)
        case get(String)
        /// Every key under a prefix.
        case list(String)
    }

    struct Endpoint {
        let name: String
        let target: BlockingGRPC.Target
        let secure: Bool
    }

    let endpoints: [Endpoint]
    var current = 0
    let tls: TLSConfiguration?
    var connection: BlockingGRPC?
    let credentials: (String, String)?
    var token: String?
    /// The cluster answered that authentication is off: calls go without a token (until etcd
    /// asks for a user).
    var authenticationOff = false
    /// Calls made (a test counts the round trips of an ADD).
    var requests = 0

    init(_ s: WhereaboutsConfig.EtcdSettings) throws(CNIError) {
        let secure = s.caCertFile != nil || s.certFile != nil
        var endpoints: [Endpoint] = []
        for e in s.endpoints {
            let url = e.hasPrefix("http://") || e.hasPrefix("https://") ? e : (secure ? "https://" : "http://") + e
            guard let (target, isSecure) = BlockingGRPC.target(url: url) else {
                throw CNIError(.invalidNetworkConfig, "etcd_host: \(e) is not host:port")
            }
            endpoints.append(Endpoint(name: e, target: target, secure: isSecure))
        }
        self.endpoints = endpoints
        do {
            func file(_ path: String?) throws -> [UInt8]? { try path.map { try FileSystem.read($0, atMost: 1 << 20) } }
            tls = endpoints.contains(where: \.secure)
                ? try BlockingHTTPClient.tlsConfiguration(caPEM: file(s.caCertFile), certificatePEM: file(s.certFile), keyPEM: file(s.keyFile))
                : nil
        } catch {
            throw CNIError(.invalidNetworkConfig, "etcd TLS settings", details: "\(error)")
        }
        credentials = s.username.map { ($0, s.password ?? "") }
    }

    /// gRPC status codes: UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED — a member without a
    /// leader, in an election, overloaded: another may answer.
    static let memberTrouble: Set<Int> = [14, 4, 8]

    /// Calls `method` with `message` on the current endpoint, moving on to the next when it does
    /// not answer; authenticates first when a user is configured (again when etcd voided the
    /// token). A call whose connection broke is sent again to the next endpoint although it may
    /// have been carried out: safe because every write this client makes is a transaction
    /// guarded by comparisons (a repeated one fails them; EtcdStore reads back what the first
    /// did — an ADD adopts its own record, a DEL finishes its release).
    func call(_ method: String, _ message: [UInt8]) throws(EtcdError) -> [UInt8] {
        requests += 1
        var failures: [String] = []
        var reauthenticated = false
        var tried = 0
        while tried < endpoints.count {
            let endpoint = endpoints[current]
            do {
                let grpc = connection ?? BlockingGRPC(endpoint.target, tls: endpoint.secure ? tls : nil, connectTimeout: .seconds(1))
                connection = grpc
                // hasleader while another endpoint is left to try: a member cut off from its leader
                // says so at once instead of waiting; the last one waits (a leader election is
                // over well within the deadline).
                var metadata = tried + 1 < endpoints.count ? [("hasleader", "true")] : []
                if credentials != nil && token == nil && !authenticationOff { token = try authenticate(grpc, metadata: metadata) }
                if let token { metadata.append(("token", token)) }
                let body = try grpc.call(method, GRPCFrame.encode(message), metadata: metadata, deadline: .now() + .seconds(6))
                guard let answer = try? GRPCFrame.decode(body) else {
                    throw EtcdError(kind: .refused, message: "\(endpoint.name)\(method): not a gRPC message (\(body.count) bytes)")
                }
                return answer
            } catch let e as EtcdError {
                throw e
            } catch let e as BlockingGRPC.Failure {
                if case .status(let code, let m) = e {
                    // A token etcd voided (expired, or users or roles changed since), or
                    // authentication turned on since: authenticate once more, as clientv3 does.
                    if credentials != nil && !reauthenticated
                        && (code == 16 || m.containsText("revision of auth store is old") || m.containsText("user name is empty")) {
                        (token, reauthenticated, authenticationOff) = (nil, true, false)
                        continue
                    }
                    if code == 7 || code == 16 || m.containsText("authentication failed") || m.containsText("user name is empty") {
                        throw EtcdError(kind: .configuration, message: "\(endpoint.name)\(method): \(m)")
                    }
                    if !Self.memberTrouble.contains(code) {
                        throw EtcdError(kind: .refused, message: "\(endpoint.name)\(method): \(e)")
                    }
                }
                failures.append("\(endpoint.name): \(e)")
            } catch {
                failures.append("\(endpoint.name): \(error)")
            }
            connection = nil
            current = (current + 1) % endpoints.count
            tried += 1
            token = nil
        }
        throw EtcdError(kind: .unreachable, message: failures.joined(separator: "; "))
    }

    /// A token for the configured user (AuthenticateRequest: name 1, password 2 →
    /// AuthenticateResponse: token 2); nil when the cluster has authentication off, as clientv3
    /// goes on without one then.
    func authenticate(_ grpc: BlockingGRPC, metadata: [(String, String)]) throws -> String? {
        let (name, password) = credentials!
        requests += 1
        var request = ProtoWriter()
        request.field(1, name)
        request.field(2, password)
        let body: [UInt8]
        do {
            body = try grpc.call("/etcdserverpb.Auth/Authenticate", GRPCFrame.encode(request.bytes), metadata: metadata,
                                 deadline: .now() + .seconds(6))
        } catch {
            guard case .status(let code, let m) = error, !Self.memberTrouble.contains(code) else { throw error }
            if m.containsText("authentication is not enabled") {
                authenticationOff = true
                return nil
            }
            throw EtcdError(kind: .configuration, message: "etcd authentication as \(name): \(m)")
        }
        var token: String?
        var r = ProtoReader(try GRPCFrame.decode(body) ?? [])
        while let (field, value) = try r.next() {
            if field == 2, case .bytes(let b) = value { token = String(decoding: b, as: UTF8.self) }
        }
        guard let token, !token.isEmpty else { return nil }
        return token
    }

    // etcdserverpb's field numbers (rpc.proto, kv.proto).
    /// RangeRequest: key 1, range_end 2.
    static func range(_ key: String, end: [UInt8]? = nil) -> [UInt8] {
        var w = ProtoWriter()
        w.field(1, key)
        if let end { w.field(2, bytes: end) }
        return w.bytes
    }

    /// The range_end that covers every key under `prefix`.
    static func prefixEnd(_ prefix: String) -> [UInt8] {
        var end = Array(prefix.utf8)
        end[end.count - 1] += 1
        return end
    }

    /// RangeResponse: kvs 2, each a KeyValue (key 1, mod_revision 3, version 4, value 5).
    static func keyValues(_ rangeResponse: [UInt8]) throws(ProtoReader.Malformed) -> [KeyValue] {
        var out: [KeyValue] = []
        var r = ProtoReader(rangeResponse)
        while let (field, value) = try r.next() {
            guard field == 2, case .bytes(let kvBytes) = value else { continue }
            var kv = KeyValue(key: "", value: [], modRevision: 0, version: 0)
            var f = ProtoReader(kvBytes)
            while let (n, v) = try f.next() {
                switch (n, v) {
                case (1, .bytes(let b)): kv.key = String(decoding: b, as: UTF8.self)
                case (3, .varint(let x)): kv.modRevision = Int64(bitPattern: x)
                case (4, .varint(let x)): kv.version = Int64(bitPattern: x)
                case (5, .bytes(let b)): kv.value = b
                default: continue
                }
            }
            out.append(kv)
        }
        return out
    }

    func malformed(_ e: ProtoReader.Malformed) -> EtcdError {
        EtcdError(kind: .refused, message: "\(endpoints[current].name): an answer that is not etcd's: \(e)")
    }

    func get(_ key: String) throws(EtcdError) -> KeyValue? {
        let answer = try call("/etcdserverpb.KV/Range", Self.range(key))
        do { return try Self.keyValues(answer).first } catch { throw malformed(error) }
    }

    /// Every key under `prefix`.
    func list(prefix: String) throws(EtcdError) -> [KeyValue] {
        let answer = try call("/etcdserverpb.KV/Range", Self.range(prefix, end: Self.prefixEnd(prefix)))
        do { return try Self.keyValues(answer) } catch { throw malformed(error) }
    }

    /// Several reads in one round trip (a transaction without comparisons), each `.get` or
    /// `.list`: what each found.
    func read(_ ops: [Operation]) throws(EtcdError) -> [[KeyValue]] {
        try txn([], success: ops).1
    }

    /// A transaction: `success` when every comparison holds, else `failure`. Returns whether it
    /// succeeded and, per `get`/`list` of the branch that ran, the key-values it read.
    func txn(_ compares: [Compare], success: [Operation], failure: [Operation] = []) throws(EtcdError) -> (Bool, [[KeyValue]]) {
        // RequestOp: request_range 1, request_put 2 (PutRequest: key 1, value 2), request_delete_range 3 (key 1).
        func op(_ w: inout ProtoWriter, _ number: Int, _ o: Operation) {
            w.message(number) { r in
                switch o {
                case .put(let k, let v): r.message(2) { $0.field(1, k); $0.field(2, bytes: v) }
                case .delete(let k): r.message(3) { $0.field(1, k) }
                case .get(let k): r.field(1, bytes: Self.range(k), always: true)
                case .list(let prefix): r.field(1, bytes: Self.range(prefix, end: Self.prefixEnd(prefix)), always: true)
                }
            }
        }
        // TxnRequest: compare 1, success 2, failure 3. Compare: result 1 (EQUAL 0), target 2
        // (VERSION 0, MOD 2, VALUE 3), key 3, version 4 | mod_revision 6 | value 7.
        var w = ProtoWriter()
        for c in compares {
            w.message(1) { m in
                switch c {
                case .modRevision(let k, let rev): m.field(2, 2); m.field(3, k); m.field(6, UInt64(bitPattern: rev), always: true)
                case .absent(let k): m.field(3, k); m.field(4, 0, always: true)
                case .value(let k, let v): m.field(2, 3); m.field(3, k); m.field(7, bytes: v, always: true)
                }
            }
        }
        for o in success { op(&w, 2, o) }
        for o in failure { op(&w, 3, o) }
        let answer = try call("/etcdserverpb.KV/Txn", w.bytes)
        // TxnResponse: succeeded 2, responses 3 (ResponseOp: response_range 1).
        var succeeded = false
        var reads: [[KeyValue]] = []
        do {
            var r = ProtoReader(answer)
            while let (field, value) = try r.next() {
                switch (field, value) {
                case (2, .varint(let x)): succeeded = x != 0
                case (3, .bytes(let responseOp)):
                    var o = ProtoReader(responseOp)
                    while let (n, v) = try o.next() {
                        if n == 1, case .bytes(let range) = v { reads.append(try Self.keyValues(range)) }
                    }
                default: continue
                }
            }
        } catch {
            throw malformed(error)
        }
        return (succeeded, reads)
    }

    func status() throws(EtcdError) { _ = try call("/etcdserverpb.Maintenance/Status", []) }
}
