/// Whom an allocation counts against for the per-user quota.
public enum QuotaUser {
    /// `USER` for a TURN REST username `EXPIRY:USER`; the whole name for a static user or a bare `EXPIRY`
    /// (which names nobody, so each such credential stands alone).
    public static func of(_ username: String) -> String {
        guard RESTCredentials.expiry(of: username) != nil, let colon = username.firstIndex(of: ":") else { return username }
        return String(username[username.index(after: colon)...])
    }
}
