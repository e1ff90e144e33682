/// How one attempt ended.
enum AttemptOutcome: Sendable, Equatable {
    /// 2xx.
    case delivered(status: UInt)
    /// The receiver said no for good: a 4xx other than 408 and 429, or a redirect (not followed: the URL is wrong,
    /// and asking again will not change that).
    case rejected(status: UInt)
    /// Worth another try: 5xx, 408, 429, a timeout, a refused or broken connection.
    case retry(reason: String)

    init(status: UInt) {
        switch status {
        case 200..<300: self = .delivered(status: status)
        case 408, 429: self = .retry(reason: "status \(status)")
        case 300..<500: self = .rejected(status: status)
        default: self = .retry(reason: "status \(status)")
        }
    }
}

/// How an event left the queue.
enum DeliveryResult: Sendable, Equatable {
    case delivered
    case rejected
    /// Its deadline passed before a receiver took it.
    case failed
}
