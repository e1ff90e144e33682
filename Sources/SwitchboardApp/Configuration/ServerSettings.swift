/// The settings table: every setting `switchboard serve` knows, in the order help and docs list them.
public enum ServerSettings {
    public static let all: [Setting] = listeners + turn + signaling + operations + webhooks + logging

    public static func named(_ key: String) -> Setting? { byKey[key] }

    private static let byKey: [String: Setting] = Dictionary(uniqueKeysWithValues: all.map { ($0.key, $0) })
}
