import CNI
import IPAddressing

/// Who holds an address, as recorded in the store.
public enum Owner: Sendable, Hashable {
    /// `<containerID>\r\n<ifname>`, what current writers record.
    case attachment(containerID: String, ifName: String)
    /// Only `<containerID>`, from old host-local versions.
    case legacy(containerID: String)
    /// Nothing readable (an empty file a crashed writer left: plugins#498).
    case nobody

    /// Does this record belong to (containerID, ifName)? Legacy records belong to every
    /// interface of their container.
    public func matches(containerID: String, ifName: String) -> Bool {
        switch self {
        case .attachment(let c, let i): return c == containerID && i == ifName
        case .legacy(let c): return c == containerID
        case .nobody: return false
        }
    }
}

public struct Reservation: Sendable, Hashable {
    public var ip: IPAddress
    public var owner: Owner
    public init(ip: IPAddress, owner: Owner) { (self.ip, self.owner) = (ip, owner) }
}

/// Where reservations live. Every call except `withLock` expects the lock to be held.
public protocol AddressStore {
    /// Runs `body` holding the store's exclusive lock (shared with every other process using it).
    func withLock<T>(_ body: () throws -> T) throws -> T
    /// Records `ip` for the attachment unless someone holds it; true when it is now ours.
    func reserve(_ ip: IPAddress, containerID: String, ifName: String, rangeID: Int) throws(IPAMError) -> Bool
    /// The address last handed out from range set `rangeID`.
    func lastReserved(rangeID: Int) -> IPAddress?
    /// Every reservation.
    func reservations() throws(IPAMError) -> [Reservation]
    func release(_ ip: IPAddress) throws(IPAMError)
    /// Releases a reservation as read (its owner known); by default, by address.
    func release(_ r: Reservation) throws(IPAMError)
    /// What an ADD needs to know: the addresses (containerID, ifName) already holds, and which
    /// addresses are taken (an unreadable leftover is not: `reserve` takes it over).
    func allocationView(containerID: String, ifName: String) throws(IPAMError) -> AllocationView
}

/// The held addresses of an attachment and a test for taken ones: a set read in one go, or (a
/// large DiskStore) the store asked address by address.
public struct AllocationView {
    public var held: [IPAddress]
    public var isTaken: (IPAddress) -> Bool
    public init(held: [IPAddress], isTaken: @escaping (IPAddress) -> Bool) { (self.held, self.isTaken) = (held, isTaken) }
    public init(held: [IPAddress], taken: Set<IPAddress>) { self.init(held: held, isTaken: { taken.contains($0) }) }
}

extension AddressStore {
    public func release(_ r: Reservation) throws(IPAMError) { try release(r.ip) }

    public func allocationView(containerID: String, ifName: String) throws(IPAMError) -> AllocationView {
        let all = try reservations()
        return AllocationView(held: all.filter { $0.owner.matches(containerID: containerID, ifName: ifName) }.map(\.ip),
                              taken: Set(all.lazy.filter { $0.owner != .nobody }.map(\.ip)))
    }
}

extension AddressStore {
    /// Releases every address of (containerID, ifName); when none is recorded that way, the
    /// legacy records of the container (the reference's ReleaseByID). Returns what was released.
    @discardableResult
    public func releaseAll(containerID: String, ifName: String) throws(IPAMError) -> [IPAddress] {
        let all = try reservations()
        var mine = all.filter { $0.owner == .attachment(containerID: containerID, ifName: ifName) }
        if mine.isEmpty { mine = all.filter { $0.owner == .legacy(containerID: containerID) } }
        for r in mine { try release(r) }
        return mine.map(\.ip)
    }

    /// Releases every reservation not held by one of `valid` (GC); unreadable records go too.
    /// A legacy record stays while any valid attachment belongs to its container.
    @discardableResult
    public func releaseAllExcept(_ valid: Set<Attachment>) throws(IPAMError) -> [IPAddress] {
        let containers = Set(valid.map(\.containerID))
        var released: [IPAddress] = []
        for r in try reservations() {
            let keep: Bool
            switch r.owner {
            case .attachment(let c, let i): keep = valid.contains(Attachment(containerID: c, ifname: i))
            case .legacy(let c): keep = containers.contains(c)
            case .nobody: keep = false
            }
            if !keep { try release(r); released.append(r.ip) }
        }
        return released
    }
}
