import Basics
import DHCPIPAM
import CNI
import DHCP
import IPAddressing
import LinuxSystem

extension LeaseClient {
    enum Acquired { case lease(DHCPLease), stopped, failed(String) }

    /// One client's exchanges on its link (RFC 2131 §4.4): the thread's working state.
    struct Session {
        let client: LeaseClient
        let sockets: LinkSockets
        let messages: DHCPClientMessages

        var timing: ClientTiming { client.timing }
        var cap: Double { min(timing.replyTimeout, timing.resendMax) }

        func jitter() -> Double { Double.random(in: -1...1) }

        /// INIT → SELECTING → REQUESTING → BOUND: DISCOVER until an OFFER, REQUEST it until an
        /// ACK; a NAK starts over. Gives up at `deadline` (monotonic).
        func acquire(until deadline: Double) -> Acquired {
            var attempt = 0, discovers = 0
            var lastProblem = ""
            while MonotonicClock.seconds() < deadline {
                let xid = UInt32.random(in: 0...UInt32.max)
                do { try sockets.broadcast(messages.discover(xid: xid)) } catch {
                    if !sockets.exists { return .failed("the link \(sockets.name) is gone") }
                    lastProblem = "\(error)"
                }
                discovers += 1
                let wait = min(deadline, MonotonicClock.seconds() + Retransmission.delay(attempt: attempt, cap: cap, jitter: jitter()))
                attempt += 1
                let offer: DHCPMessage
                switch sockets.receive(until: wait, stopFD: client.stopDescriptor, accept: { messages.accepts($0, xid: xid, [.offer]) }) {
                case .stopped: return .stopped
                case .timeout: continue
                case .message(let m): offer = m
                }
                client.logger.debug("offer", metadata: ["address": "\(offer.yiaddr)"])
                switch request(messages.request(selecting: offer, xid: xid), xid: xid, deadline: deadline, broadcast: nil) {
                case .lease(let l): return .lease(l)
                case .stopped: return .stopped
                case .failed(let why):
                    // A server that refuses every time must not get a storm: wait as for a lost reply.
                    lastProblem = why
                    let pause = min(deadline, MonotonicClock.seconds() + Retransmission.delay(attempt: attempt - 1, cap: cap, jitter: jitter()) / 2)
                    if case .stopped = sockets.receive(until: pause, stopFD: client.stopDescriptor, accept: { _ in false }) { return .stopped }
                }
            }
            let tail = lastProblem.isEmpty ? "" : " (last: \(lastProblem))"
            return .failed("no DHCP lease on \(sockets.name) within \(Int(timing.acquireTimeout.rounded()))s: "
                           + "\(discovers) DHCPDISCOVER sent\(tail)")
        }

        /// Sends a REQUEST (broadcast, or unicast to `broadcast`'s server) until an ACK or NAK,
        /// up to four times.
        func request(_ m: DHCPMessage, xid: UInt32, deadline: Double, broadcast unicastTo: IPAddress?,
                     from source: IPAddress = IPAddress(family: .v4, value: 0)) -> Acquired {
            for attempt in 0..<4 {
                do {
                    if let server = unicastTo { try sockets.unicast(m, to: server) } else { try sockets.broadcast(m, from: source) }
                } catch {
                    return .failed("cannot send DHCPREQUEST: \(error)")
                }
                let wait = min(deadline, MonotonicClock.seconds() + Retransmission.delay(attempt: attempt, cap: cap, jitter: jitter()))
                switch sockets.receive(until: wait, stopFD: client.stopDescriptor, accept: { messages.accepts($0, xid: xid, [.ack, .nak]) }) {
                case .stopped: return .stopped
                case .timeout: if MonotonicClock.seconds() >= deadline { return .failed("no answer to DHCPREQUEST") }
                case .message(let reply):
                    if reply.messageType == .nak { return .failed("DHCPNAK from the server") }
                    do { return .lease(try DHCPLease(ack: reply, acquired: WallClock.seconds())) } catch {
                        return .failed("\(error)")
                    }
                }
            }
            return .failed("no answer to DHCPREQUEST")
        }

        /// INIT-REBOOT after a daemon restart: the saved address asked for again. An ACK
        /// continues it, a NAK starts over (a new address replaces the old on the link), no answer
        /// keeps the saved lease until its own times (RFC 2131 §3.2). nil when the client ends.
        func reboot(_ saved: DHCPLease) -> DHCPLease? {
            if saved.expiresAt <= WallClock.seconds() {
                client.logger.info("saved lease expired while the daemon was down", metadata: ["address": "\(saved.address)"])
                sockets.withdraw(saved.address)
                client.store.remove(client.id)
                return nil
            }
            let xid = UInt32.random(in: 0...UInt32.max)
            let deadline = MonotonicClock.seconds() + min(12, max(1, saved.expiresAt - WallClock.seconds()))
            switch request(messages.request(rebooting: saved.address.address, xid: xid), xid: xid, deadline: deadline, broadcast: nil) {
            case .lease(let l):
                client.logger.info("resumed", metadata: ["address": "\(l.address)"])
                if l.address != saved.address { sockets.replaceAddress(saved.address, with: l.address) }
                return l
            case .stopped: return saved
            case .failed(let why) where why.containsText("DHCPNAK"):
                client.logger.warning("saved lease refused; starting over", metadata: ["address": "\(saved.address)"])
                return startOver(refused: saved, until: MonotonicClock.seconds() + timing.acquireTimeout)
            case .failed:
                client.logger.info("no answer to INIT-REBOOT; keeping the saved lease", metadata: ["address": "\(saved.address)"])
                return saved
            }
        }

        /// BOUND → RENEWING (T1, unicast) → REBINDING (T2, broadcast) → expiry. Returns the next
        /// lease, or nil when the client ends (stop, expiry, link gone).
        func maintain(_ lease: DHCPLease) -> DHCPLease? {
            // The lease's times are wall-clock (they outlive restarts); while running they are
            // followed on the monotonic clock, so a clock step (NTP at boot) moves nothing.
            let (anchorWall, anchorMono) = (WallClock.seconds(), MonotonicClock.seconds())
            while true {
                let now = anchorWall + (MonotonicClock.seconds() - anchorMono)
                if now >= lease.expiresAt {
                    client.logger.warning("lease expired: address removed, link down", metadata: ["address": "\(lease.address)"])
                    sockets.withdraw(lease.address)
                    client.store.remove(client.id)
                    return nil
                }
                guard sockets.exists else {
                    client.logger.info("link gone; forgetting the lease", metadata: ["address": "\(lease.address)"])
                    client.store.remove(client.id)
                    return nil
                }
                // The pod's namespace deleted without a DEL: the address goes back to the server.
                guard sockets.namespaceRemains else {
                    client.logger.info("namespace gone without a DEL; releasing", metadata: ["address": "\(lease.address)"])
                    release(lease)
                    client.store.remove(client.id)
                    return nil
                }
                if now < lease.renewAt {
                    // Sleep towards T1 in slices, so a vanished link or namespace is noticed.
                    let slice = min(lease.renewAt - now, client.timing.watchInterval)
                    if case .stopped = sockets.receive(until: MonotonicClock.seconds() + slice, stopFD: client.stopDescriptor, accept: { _ in false }) {
                        return nil
                    }
                    continue
                }
                let rebinding = now >= lease.rebindAt
                let end = rebinding ? lease.expiresAt : lease.rebindAt
                let xid = UInt32.random(in: 0...UInt32.max)
                let m = messages.request(extending: lease, xid: xid)
                do {
                    if !rebinding, let server = lease.server { try sockets.unicast(m, to: server) }
                    else { try sockets.broadcast(m, from: lease.address.address) }
                } catch {
                    client.logger.debug("cannot send", metadata: ["error": "\(error)"])
                }
                let wait = MonotonicClock.seconds() + min(Retransmission.extendingDelay(now: now, until: end), max(0.2, end - now))
                switch sockets.receive(until: wait, stopFD: client.stopDescriptor, accept: { messages.accepts($0, xid: xid, [.ack, .nak]) }) {
                case .stopped: return nil
                case .timeout: continue
                case .message(let reply) where reply.messageType == .nak:
                    client.logger.warning("DHCPNAK on \(rebinding ? "rebind" : "renew"); starting over", metadata: ["address": "\(lease.address)"])
                    return startOver(refused: lease, until: MonotonicClock.seconds() + max(1, lease.expiresAt - now))
                case .message(let reply):
                    if let l = try? DHCPLease(ack: reply, acquired: WallClock.seconds()) {
                        if l.address != lease.address { sockets.replaceAddress(lease.address, with: l.address) }
                        return l
                    }
                }
            }
        }

        /// After a NAK: the refused address off the link at once (RFC 2131 §4.4.5), discovery
        /// until `deadline`, the new address on the link; none by then: the link goes down.
        func startOver(refused: DHCPLease, until deadline: Double) -> DHCPLease? {
            sockets.dropAddress(refused.address)
            switch acquire(until: deadline) {
            case .lease(let l):
                sockets.addAddress(l.address)
                return l
            case .stopped: return nil
            case .failed:
                sockets.withdraw(refused.address)
                client.store.remove(client.id)
                return nil
            }
        }

        /// DHCPRELEASE to the server; broadcast when unicast cannot be sent.
        func release(_ lease: DHCPLease) {
            let m = messages.release(lease, xid: UInt32.random(in: 0...UInt32.max))
            if let server = lease.server, (try? sockets.unicast(m, to: server)) != nil { return }
            try? sockets.broadcast(m, from: lease.address.address)
        }
    }
}
