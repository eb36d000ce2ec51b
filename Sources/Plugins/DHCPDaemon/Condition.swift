import DHCPIPAM
import Glibc

/// A mutex and a condition variable (pthread), for a thread that waits on another's progress
/// with a deadline. The daemon's only shared state goes through these and Synchronization.Mutex.
final class Condition: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()

    init() {
        pthread_mutex_init(&mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(&cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(&cond)
        pthread_mutex_destroy(&mutex)
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }

    /// Changes state under the lock and wakes every waiter.
    func signal(_ body: () -> Void) {
        pthread_mutex_lock(&mutex)
        body()
        pthread_cond_broadcast(&cond)
        pthread_mutex_unlock(&mutex)
    }

    /// Waits until `done()` (checked under the lock) or the monotonic `deadline`; returns `done()`.
    func wait(until deadline: Double, _ done: () -> Bool) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        let finite = deadline.isFinite ? min(deadline, 1e12) : 0
        var ts = timespec(tv_sec: Int(finite), tv_nsec: Int((finite - finite.rounded(.down)) * 1e9))
        while !done() {
            if !deadline.isFinite { pthread_cond_wait(&cond, &mutex); continue }
            if pthread_cond_timedwait(&cond, &mutex, &ts) == ETIMEDOUT { return done() }
        }
        return true
    }
}

/// Starts a detached thread (the daemon's connections and lease clients).
func startThread(_ body: @escaping @Sendable () -> Void) {
    final class Box: @unchecked Sendable { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
    var t = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let rc = pthread_create(&t, &attr, { raw in
        let b = Unmanaged<AnyObject>.fromOpaque(raw!).takeRetainedValue() as! Box
        b.body()
        return nil
    }, box)
    pthread_attr_destroy(&attr)
    if rc != 0 {
        Unmanaged<AnyObject>.fromOpaque(box).release()
        body()
    }
}
