import Basics
import CNI

public enum ContainerIDs {
    /// cnitool's container ID for a namespace path: "cnitool-" + the first 10 bytes of
    /// sha512(path) in hex.
    public static func cnitool(netnsPath: String) -> String {
        "cnitool-" + SHA512.hex(netnsPath).prefix(20)
    }
}
