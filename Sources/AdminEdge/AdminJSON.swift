import Foundation
import Hummingbird
import HTTPTypes

/// JSON bodies of the admin API: the value itself on success, `{"error": CODE, "message": TEXT}` otherwise.
enum AdminJSON {
    static func response(_ value: some Encodable) throws -> Response {
        try response(.ok, value)
    }

    static func response(_ status: HTTPResponse.Status, _ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(value)
        return Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        (try? response(status, ["error": code, "message": message]))
            ?? Response(status: status)
    }
}
