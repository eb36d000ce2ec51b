import CLinux
import Glibc

/// The process environment as "K=V" strings and as a dictionary.
public enum ProcessEnvironment {
    public static func current() -> [String: String] {
        guard let base = csystem_environ() else { return [:] }
        var count = 0
        while base[count] != nil { count += 1 }
        var out = [String: String](minimumCapacity: count)
        // Bytes, not Characters: splitting on '=' needs no grapheme breaking (a hot spot of
        // every plugin's start-up when it was done on String).
        for i in 0..<count {
            let bytes = UnsafeRawPointer(base[i]!).assumingMemoryBound(to: UInt8.self)
            let len = strlen(base[i]!)
            let buf = UnsafeBufferPointer(start: bytes, count: len)
            guard let eq = buf.firstIndex(of: UInt8(ascii: "=")) else { continue }
            out[String(decoding: buf[..<eq], as: UTF8.self)] = String(decoding: buf[(eq + 1)...], as: UTF8.self)
        }
        return out
    }

    /// "K=V" strings, sorted for determinism.
    public static func encode(_ env: [String: String]) -> [String] {
        env.map { "\($0.key)=\($0.value)" }.sorted()
    }
}
