package io.orderbookmonitor.flink.format;

import java.util.Locale;

/**
 * Why a message breaks its topic's contract, in kinds coarse enough to count: each kind is a
 * Flink counter of the source ({@code obm_rejected_<kind>}) and the first word of the reason the
 * DLQ record carries ({@code "<kind>: <detail>"}), so a DLQ summary and an alert rule group by it.
 */
enum RejectKind {
    /** Not parseable as JSON: empty, cut short, syntax, limits, content after the object. */
    NOT_JSON,
    /** JSON, but not an object (an array, a string, a number, null). */
    NOT_AN_OBJECT,
    /** A value of another JSON type than the contract's (a string where numbers belong, ...). */
    WRONG_TYPE,
    /** null where the contract does not allow it (a field, or an element of an array). */
    NULL_VALUE,
    /** A required field is absent. */
    MISSING_FIELD,
    /** A field the contract does not know (the topics' schemas allow no others). */
    UNEXPECTED_FIELD,
    /** The same field twice in one object (which one a reader keeps is up to the reader). */
    DUPLICATE_FIELD,
    /** A number that is not finite (1e999 parses to infinity). */
    NOT_FINITE,
    /** A number below the contract's minimum, or an integer too large for its column. */
    OUT_OF_RANGE,
    /** An array with fewer or more items than the contract allows (an empty book side). */
    ITEM_COUNT,
    /** Arrays that must have the same length do not (a side's prices and sizes). */
    UNEQUAL_LENGTH,
    /** A value outside the contract's enum, too short, or not matching its pattern. */
    NOT_ALLOWED,
    /** The event time is further ahead of the consumer's clock than the bound. */
    EVENT_TIME_AHEAD,
    /** The event time is older than the bound (the topic's retention). */
    EVENT_TIME_TOO_OLD,
    /** The reader failed in a way none of the above describes (a bug: the message is kept). */
    UNREADABLE;

    /** The kind as it appears in reasons and metric names. */
    final String label = name().toLowerCase(Locale.ROOT);

    String metricName() {
        return "obm_rejected_" + label;
    }
}
