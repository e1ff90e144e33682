import NIOCore

/// How much a STUN/TURN stream connection reads per turn of its thread.
///
/// SwiftNIO reads a stream connection up to four times per turn, up to 64 KiB each, and everything read is framed
/// and handled before any other connection on the thread gets its turn. A client that pipelines STUN messages
/// (unauthenticated Allocates, say, or indications that get no answer) would put thousands of them into each turn
/// while everyone else on its thread waits. Such a client is throttled: one read per turn into SwiftNIO's smallest
/// receive buffer setting (a buffer SwiftNIO reuses may still be larger), and TCP's flow control holds back the rest
/// on its side. It is throttled when
/// - one read brought more STUN messages than any client needs to send at once (`stunMessagesPerReadLimit`), until a
///   read brings only a few (`releasedAtOrBelow`: far fewer, so that messages just too long to exceed the limit in one
///   throttled read cannot win a full turn back every other turn) and the connection is draining; or
/// - an answer to it had to be dropped because it does not read what it is sent, until it drains again.
/// ChannelData never counts: a client relaying media is not throttled for its rate. A setting changed in the middle
/// of a read takes effect from the next turn.
struct StreamReadThrottle {
    /// More STUN messages (requests, indications, anything but ChannelData) in one read than this throttles the
    /// connection. A TURN client sends a handful at a time; ICE with many remote candidates, a few dozen permissions.
    /// Send indications count: a client relaying that way rather than over a channel is throttled only while one
    /// read brings more of them than this.
    static let stunMessagesPerReadLimit = 128
    /// A read with no more STUN messages than this ends a throttle that a flood started.
    static let releasedAtOrBelow = stunMessagesPerReadLimit / 8
    /// The receive buffer size asked for while throttled (SwiftNIO may reuse a larger buffer).
    static let throttledReadBytes = 4096

    /// What the connection read with before it was throttled, put back when it is released; nil while it is not.
    private var released: (readsPerTurn: UInt, allocator: any RecvByteBufferAllocator)?
    var isThrottled: Bool { released != nil }
    private var stunMessagesThisRead = 0
    private var lastReadWasFlood = false

    mutating func stunMessageRead() {
        stunMessagesThisRead &+= 1
    }

    /// An answer to this client was just dropped because it is not draining.
    mutating func answerDropped(on channel: any Channel) {
        throttle(channel)
    }

    /// Whether `readComplete` has anything to do: a read of ChannelData alone by a connection that is not throttled
    /// (the media path) skips it.
    var readCompleteMatters: Bool { stunMessagesThisRead > 0 || isThrottled }

    mutating func readComplete(on channel: any Channel) {
        let count = stunMessagesThisRead
        stunMessagesThisRead = 0
        if count > Self.stunMessagesPerReadLimit {
            lastReadWasFlood = true
            throttle(channel)
        } else if count <= Self.releasedAtOrBelow {
            lastReadWasFlood = false
            releaseIfDraining(channel)
        }
    }

    mutating func writabilityChanged(on channel: any Channel) {
        if !lastReadWasFlood { releaseIfDraining(channel) }
    }

    private mutating func throttle(_ channel: any Channel) {
        guard !isThrottled, let options = channel.syncOptions else { return }
        // A closed channel refuses options; nothing is read from it any more anyway.
        guard let readsPerTurn = try? options.getOption(ChannelOptions.maxMessagesPerRead),
              let allocator = try? options.getOption(ChannelOptions.recvAllocator) else { return }
        released = (readsPerTurn, allocator)
        try? options.setOption(ChannelOptions.maxMessagesPerRead, value: 1)
        try? options.setOption(ChannelOptions.recvAllocator,
                               value: FixedSizeRecvByteBufferAllocator(capacity: Self.throttledReadBytes))
    }

    private mutating func releaseIfDraining(_ channel: any Channel) {
        guard let released, channel.isWritable, let options = channel.syncOptions else { return }
        self.released = nil
        try? options.setOption(ChannelOptions.maxMessagesPerRead, value: released.readsPerTurn)
        try? options.setOption(ChannelOptions.recvAllocator, value: released.allocator)
    }
}
