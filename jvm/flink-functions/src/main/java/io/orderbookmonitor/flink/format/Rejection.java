package io.orderbookmonitor.flink.format;

/**
 * A message breaks its topic's contract: thrown inside the contract reader and caught by the
 * deserializer, which turns it into a rejected row (it never leaves the format). No stack trace:
 * a poison message costs what any message costs, not a walk of the stack.
 */
final class Rejection extends Exception {

    private static final long serialVersionUID = 1L;

    final RejectKind kind;

    Rejection(RejectKind kind, String detail) {
        super(detail, null, false, false);
        this.kind = kind;
    }

    /** {@code "<kind>: <detail>"}: the reason in the DLQ record. */
    String reason() {
        return kind.label + ": " + getMessage();
    }
}
