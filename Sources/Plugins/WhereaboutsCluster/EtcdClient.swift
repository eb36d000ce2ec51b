import Whereabouts
import Basics
import CNI
import Glibc
import HTTPBridge
import LinuxSystem
import NIOCore
import NIOHTTP1

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

/// A small client of etcd's v3 API through its JSON gateway (`/v3/kv/range`, `/v3/kv/txn`,
/// `/v3/auth/authenticate`, `/v3/maintenance/status`), over the shared HTTPS bridge: keys and
/// values travel base64-encoded, 64-bit numbers as strings. Endpoints are tried in order; one
/// that does not answer is skipped for the rest of the process (failover).
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

    let endpoints: [String]
    var current = 0
    let http: BlockingHTTPClient
    let credentials: (String, String)?
    var token: String?
    /// Calls made (a test counts the round trips of an ADD).
    var requests = 0

    init(_ s: WhereaboutsConfig.EtcdSettings) throws(CNIError) {
        let secure = s.caCertFile != nil || s.certFile != nil
        endpoints = s.endpoints.map { $0.hasPrefix("http://") || $0.hasPrefix("https://") ? $0 : (secure ? "https://" : "http://") + $0 }
        do {
            func file(_ path: String?) throws -> [UInt8]? { try path.map { try FileSystem.read($0, atMost: 1 << 20) } }
            let tls = secure ? try BlockingHTTPClient.tlsConfiguration(caPEM: file(s.caCertFile), certificatePEM: file(s.certFile),
                                                                     keyPEM: file(s.keyFile)) : nil
            http = BlockingHTTPClient(tls: tls, connectTimeout: .seconds(1), readTimeout: .seconds(5), retryConnecting: false)
        } catch {
            throw CNIError(.invalidNetworkConfig, "etcd TLS settings", details: "\(error)")
        }
        credentials = s.username.map { ($0, s.password ?? "") }
    }

    /// POSTs `body` to `path` on the current endpoint, moving on to the next when it does not
    /// answer; authenticates first when a user is configured (again when the token expired).
    func call(_ path: String, _ body: JSONValue) throws(EtcdError) -> JSONValue {
        requests += 1
        var failures: [String] = []
        var reauthenticated = false
        var tried = 0
        while tried < endpoints.count {
            let endpoint = endpoints[current]
            do {
                if credentials != nil && token == nil { token = try authenticate(endpoint) }
                var headers = [("Content-Type", "application/json")]
                if let token { headers.append(("Authorization", token)) }
                let r = try http.send(.POST, url: endpoint + path, headers: headers, body: body.serialized(), deadline: .now() + .seconds(6))
                let json = (try? JSONValue.parse(r.body)) ?? .null
                if r.status == 200 { return json }
                let message = json["message"]?.stringValue ?? json["error"]?.stringValue ?? "HTTP \(r.status)"
                // An expired or revoked token: authenticate once more.
                if credentials != nil && !reauthenticated && message.contains("token") {
                    (token, reauthenticated) = (nil, true)
                    continue
                }
                if message.contains("authentication failed") || message.contains("permission denied") || message.contains("user name is empty") {
                    throw EtcdError(kind: .configuration, message: "\(endpoint)\(path): \(message)")
                }
                // A member without a leader (partitioned, or in an election): another may answer.
                if r.status >= 500 || message.contains("no leader") || message.contains("not capable") {
                    failures.append("\(endpoint): \(message)")
                } else {
                    throw EtcdError(kind: .refused, message: "\(endpoint)\(path): \(message)")
                }
            } catch let e as EtcdError {
                throw e
            } catch let e as BlockingHTTPClient.Failure {
                failures.append("\(endpoint): \(e)")
            } catch {
                failures.append("\(endpoint): \(error)")
            }
            current = (current + 1) % endpoints.count
            tried += 1
            token = nil
        }
        throw EtcdError(kind: .unreachable, message: failures.joined(separator: "; "))
    }

    func authenticate(_ endpoint: String) throws -> String {
        let (name, password) = credentials!
        let r = try http.send(.POST, url: endpoint + "/v3/auth/authenticate", headers: [("Content-Type", "application/json")],
                              body: (["name": .string(name), "password": .string(password)] as JSONValue).serialized(),
                              deadline: .now() + .seconds(6))
        let json = (try? JSONValue.parse(r.body)) ?? .null
        guard r.status == 200, let token = json["token"]?.stringValue else {
            throw EtcdError(kind: .configuration, message: "etcd authentication as \(name): \(json["message"]?.stringValue ?? "HTTP \(r.status)")")
        }
        return token
    }

    static func b64(_ s: String) -> JSONValue { .string(Base64.encode(Array(s.utf8))) }

    static func keyValue(_ j: JSONValue) -> KeyValue? {
        guard let k = j["key"]?.stringValue.flatMap(Base64.decode) else { return nil }
        return KeyValue(key: String(decoding: k, as: UTF8.self), value: j["value"]?.stringValue.flatMap(Base64.decode) ?? [],
                        modRevision: Int64(j["mod_revision"]?.stringValue ?? "") ?? 0,
                        version: Int64(j["version"]?.stringValue ?? "") ?? 0)
    }

    func get(_ key: String) throws(EtcdError) -> KeyValue? {
        try call("/v3/kv/range", ["key": Self.b64(key)])["kvs"]?.arrayValue?.first.flatMap(Self.keyValue)
    }

    /// A range request for every key under `prefix`.
    static func prefixRange(_ prefix: String) -> JSONValue {
        var end = Array(prefix.utf8)
        end[end.count - 1] += 1
        return ["key": b64(prefix), "range_end": .string(Base64.encode(end))]
    }

    /// Every key under `prefix`.
    func list(prefix: String) throws(EtcdError) -> [KeyValue] {
        (try call("/v3/kv/range", Self.prefixRange(prefix))["kvs"]?.arrayValue ?? []).compactMap(Self.keyValue)
    }

    /// Several reads in one round trip (a transaction without comparisons), each `.get` or
    /// `.list`: what each found.
    func read(_ ops: [Operation]) throws(EtcdError) -> [[KeyValue]] {
        try txn([], success: ops).1
    }

    /// A transaction: `success` when every comparison holds, else `failure`. Returns whether it
    /// succeeded and, per `get`/`list` of the branch that ran, the key-values it read.
    func txn(_ compares: [Compare], success: [Operation], failure: [Operation] = []) throws(EtcdError) -> (Bool, [[KeyValue]]) {
        func op(_ o: Operation) -> JSONValue {
            switch o {
            case .put(let k, let v): return ["request_put": ["key": Self.b64(k), "value": .string(Base64.encode(v))]]
            case .delete(let k): return ["request_delete_range": ["key": Self.b64(k)]]
            case .get(let k): return ["request_range": ["key": Self.b64(k)]]
            case .list(let prefix): return ["request_range": Self.prefixRange(prefix)]
            }
        }
        let cmp: [JSONValue] = compares.map {
            switch $0 {
            case .modRevision(let k, let rev):
                return ["key": Self.b64(k), "target": "MOD", "result": "EQUAL", "mod_revision": .string(String(rev))]
            case .absent(let k):
                return ["key": Self.b64(k), "target": "VERSION", "result": "EQUAL", "version": "0"]
            case .value(let k, let v):
                return ["key": Self.b64(k), "target": "VALUE", "result": "EQUAL", "value": .string(Base64.encode(v))]
            }
        }
        let r = try call("/v3/kv/txn", ["compare": .array(cmp), "success": .array(success.map(op)), "failure": .array(failure.map(op))])
        let succeeded = r["succeeded"]?.boolValue ?? false
        let reads: [[KeyValue]] = (r["responses"]?.arrayValue ?? []).compactMap { resp in
            resp["response_range"].map { ($0["kvs"]?.arrayValue ?? []).compactMap(Self.keyValue) }
        }
        return (succeeded, reads)
    }

    func status() throws(EtcdError) { _ = try call("/v3/maintenance/status", [:]) }
}
