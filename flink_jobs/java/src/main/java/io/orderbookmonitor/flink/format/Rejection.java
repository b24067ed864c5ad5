package io.orderbookmonitor.flink.format;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;

/**
 * A message breaks its topic's contract: thrown inside the contract reader and caught by the
 * deserializer, which turns it into a rejected row (it never leaves the format). No stack trace:
 * a poison message costs what any message costs, not a walk of the stack.
 */
final class Rejection extends Exception {

    private static final long serialVersionUID = 1L;
    /** Longest value or parser message quoted in a reason. */
    private static final int MAX_DETAIL = 200;

    final RejectKind kind;

    Rejection(RejectKind kind, String detail) {
        super(detail, null, false, false);
        this.kind = kind;
    }

    /** {@code "<kind>: <detail>"}: the reason in the DLQ record. */
    String reason() {
        return kind.label + ": " + getMessage();
    }

    /** A value of another JSON type than the rule's, where {@code path} names it. */
    static Rejection wrongType(Contract.Rule rule, String path, JsonToken token) {
        return new Rejection(RejectKind.WRONG_TYPE, path + ": expected " + rule.kindName() + ", got " + describe(token));
    }

    /** A token as a reason names it: "a string", "an array", ... */
    static String describe(JsonToken token) {
        if (token == null) {
            return "nothing";
        }
        switch (token) {
            case START_OBJECT:
                return "an object";
            case START_ARRAY:
                return "an array";
            case VALUE_STRING:
                return "a string";
            case VALUE_NUMBER_INT:
            case VALUE_NUMBER_FLOAT:
                return "a number";
            case VALUE_TRUE:
            case VALUE_FALSE:
                return "a boolean";
            case VALUE_NULL:
                return "null";
            default:
                return token.toString();
        }
    }

    /** A value in a reason: quoted and shortened. */
    static String quoted(String text) {
        return "\"" + shorten(text) + "\"";
    }

    /** At most MAX_DETAIL characters of a message or value, on one line. */
    static String shorten(String text) {
        if (text == null) {
            return "";
        }
        final int eol = text.indexOf('\n');
        final String line = eol >= 0 ? text.substring(0, eol) : text;
        return line.length() <= MAX_DETAIL ? line : line.substring(0, MAX_DETAIL) + "...";
    }
}
