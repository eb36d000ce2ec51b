import CNI

public enum ContainerIDs {
    /// cnitool's container ID for a namespace path: "cnitool-" + the first 10 bytes of
    /// sha512(path) in hex.
    public static func cnitool(netnsPath: String) -> String {
        "cnitool-" + SHA512.hash(Array(netnsPath.utf8)).prefix(10).map { b in
            let h = String(b, radix: 16)
            return h.count == 1 ? "0" + h : h
        }.joined()
    }
}
