import IPAddressing

/// Typed reads from a JSON object with errors that name the key path ("ipam.ranges[0].subnet").
/// Config mistakes are code 7 by default; results use 6 (decoding).
public struct JSONReader: Sendable {
    public let value: JSONValue
    public let path: String
    public let code: CNIError.Code

    public init(_ value: JSONValue, path: String, code: CNIError.Code = .invalidNetworkConfig) {
        (self.value, self.path, self.code) = (value, path, code)
    }

    public func child(_ key: String, _ v: JSONValue) -> JSONReader {
        JSONReader(v, path: key.hasPrefix("[") || path.isEmpty ? path + key : "\(path).\(key)", code: code)
    }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public func fail(_ key: String, _ what: String) -> CNIError {
        CNIError(code, "invalid \(keyPath(key))", details: what)
    }

    public func requireObject() throws(CNIError) {
        guard value.objectValue != nil else {
            throw CNIError(code, "invalid \(path)", details: "expected a JSON object")
        }
    }

    /// The key's value, or nil when absent or null.
    public func raw(_ key: String) -> JSONValue? {
        guard let v = value[key], !v.isNull else { return nil }
        return v
    }

    public func string(_ key: String) throws(CNIError) -> String? {
        guard let v = raw(key) else { return nil }
        guard let s = v.stringValue else { throw fail(key, "expected a string") }
        return s
    }

    public func requiredString(_ key: String) throws(CNIError) -> String {
        guard let s = try string(key) else { throw CNIError(code, "missing \(keyPath(key))") }
        return s
    }

    public func bool(_ key: String) throws(CNIError) -> Bool? {
        guard let v = raw(key) else { return nil }
        guard let b = v.boolValue else { throw fail(key, "expected true or false") }
        return b
    }

    public func int(_ key: String) throws(CNIError) -> Int? {
        guard let v = raw(key) else { return nil }
        guard let i = v.intValue else { throw fail(key, "expected an integer") }
        return i
    }

    /// An integer within `range` (code 7 otherwise, never a trap further on): every integer key
    /// of a config is read through this or one of the fixed-width reads below.
    public func int(_ key: String, in range: ClosedRange<Int>) throws(CNIError) -> Int? {
        guard let v = raw(key) else { return nil }
        guard let i = v.intValue, range.contains(i) else {
            throw fail(key, "expected an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return i
    }

    public func uint32(_ key: String) throws(CNIError) -> UInt32? {
        try int(key, in: 0...Int(UInt32.max)).map { UInt32($0) }
    }

    public func uint16(_ key: String) throws(CNIError) -> UInt16? {
        try int(key, in: 0...Int(UInt16.max)).map { UInt16($0) }
    }

    public func uint8(_ key: String) throws(CNIError) -> UInt8? {
        try int(key, in: 0...Int(UInt8.max)).map { UInt8($0) }
    }

    public func array(_ key: String) throws(CNIError) -> [JSONValue]? {
        guard let v = raw(key) else { return nil }
        guard let a = v.arrayValue else { throw fail(key, "expected an array") }
        return a
    }

    public func object(_ key: String) throws(CNIError) -> JSONObject? {
        guard let v = raw(key) else { return nil }
        guard let o = v.objectValue else { throw fail(key, "expected an object") }
        return o
    }

    public func stringArray(_ key: String) throws(CNIError) -> [String]? {
        guard let a = try array(key) else { return nil }
        var out: [String] = []
        for (i, v) in a.enumerated() {
            guard let s = v.stringValue else { throw fail("\(key)[\(i)]", "expected a string") }
            out.append(s)
        }
        return out
    }

    public func address(_ key: String) throws(CNIError) -> IPAddress? {
        guard let s = try string(key) else { return nil }
        guard let ip = IPAddress(s) else { throw fail(key, "invalid IP address: \(s)") }
        return ip
    }

    public func prefix(_ key: String) throws(CNIError) -> IPPrefix? {
        guard let s = try string(key) else { return nil }
        guard let p = IPPrefix(s) else { throw fail(key, "invalid CIDR address: \(s)") }
        return p
    }

    public func requiredPrefix(_ key: String) throws(CNIError) -> IPPrefix {
        guard let p = try prefix(key) else { throw CNIError(code, "missing \(keyPath(key))") }
        return p
    }
}
