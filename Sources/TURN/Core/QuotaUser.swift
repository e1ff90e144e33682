/// Whom an allocation counts against for the per-user quota.
public enum QuotaUser {
    /// `USER` for a TURN REST username `EXPIRY:USER` or `EXPIRY:USER:SESSION` (credentials handed out on join are
    /// bound to the signaling session); the whole name for a static user or a bare `EXPIRY` (which names nobody,
    /// so each such credential stands alone).
    public static func of(_ username: String) -> String {
        guard RESTCredentials.expiry(of: username) != nil, let colon = username.firstIndex(of: ":") else { return username }
        let rest = username[username.index(after: colon)...]
        guard let second = rest.firstIndex(of: ":") else { return String(rest) }
        return String(rest[..<second])
    }

    /// The signaling session a REST username `EXPIRY:USER:SESSION` is bound to, if any.
    public static func session(of username: String) -> String? {
        guard RESTCredentials.expiry(of: username) != nil else { return nil }
        let parts = username.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        return parts.count == 3 && !parts[2].isEmpty ? String(parts[2]) : nil
    }
}
