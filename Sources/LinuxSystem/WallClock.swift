import Glibc

/// The real-time clock, formatted in UTC: the one place that calls gmtime/strftime (log lines,
/// log backups' names, Kubernetes event times).
public enum WallClock {
    /// Now, as `timespec`.
    public static func now() -> timespec {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        return t
    }

    /// `seconds` (default: now) through strftime's `format`, in UTC.
    public static func utc(_ format: String, seconds: Int? = nil) -> String {
        var t = seconds ?? now().tv_sec
        var tm = tm()
        gmtime_r(&t, &tm)
        var buf = [CChar](repeating: 0, count: 64)
        let n = strftime(&buf, buf.count, format, &tm)
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Now, in seconds since the epoch (what outlives a restart: leases, records).
    public static func seconds() -> Double {
        let t = now()
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// RFC 3339 in UTC to the second, as Kubernetes and the plugins' logs write it.
    public static func rfc3339(seconds: Int? = nil) -> String { utc("%Y-%m-%dT%H:%M:%SZ", seconds: seconds) }
}

/// The monotonic clock in seconds: deadlines and waits, which no clock step may move.
public enum MonotonicClock {
    public static func seconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}
