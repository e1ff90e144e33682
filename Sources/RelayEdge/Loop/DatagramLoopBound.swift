/// A value confined to one `DatagramLoop` that may be carried across threads but only opened on its loop, in the
/// spirit of NIO's `NIOLoopBound`. Debug builds check each access.
struct DatagramLoopBound<Value>: @unchecked Sendable {  // unchecked: `value` is only reached on `loop`'s thread
    let loop: DatagramLoop
    private let wrapped: Value

    init(_ value: Value, loop: DatagramLoop) {
        self.loop = loop
        self.wrapped = value
    }

    var value: Value {
        loop.assertInLoop()
        return wrapped
    }

    /// The value without the check, for code that only passes it on to its loop (or compares identities).
    var unsafeValue: Value { wrapped }
}
