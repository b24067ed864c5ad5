package io.orderbookmonitor.flink.format;

import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.StringData;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.StreamReadFeature;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads one message into a row while checking it against the topic's {@link Contract}, in one
 * pass over Jackson's tokens: every field is checked (projected or not), only projected ones are
 * converted. A message that breaks the contract throws a {@link Rejection} saying why.
 *
 * <p>What conforms is what schemas/conformance.py accepts for the same bytes: strict JSON (no
 * unescaped control characters, nothing after the object), the contract's types (an integer may
 * be written 1.0, as JSON Schema allows; a number never as a string), finite numbers, bounds,
 * enums, patterns, item counts, equal-length arrays and the event-time bounds. Stricter in one
 * place: a field given twice is rejected (Python's decoders keep the last; which value counts is
 * not something a record should leave open).
 *
 * <p>Values convert as the lenient reader ({@link JsonValueReader}) converts them, so a conforming
 * message gives the same row with or without a contract. Not thread-safe: one per deserializer.
 */
final class ContractReader {

    // Accepted values of a field with a pattern, so a symbol is matched once, not per record.
    private static final int PATTERN_CACHE = 4096;

    private final Contract contract;
    /** Per contract field: its position in the produced row, or -1 when it is not projected. */
    private final int[] positions;
    /** Per contract field: the produced column's type (null when not projected). */
    private final ColumnType[] columns;
    private final int arity;
    private final JsonFactory factory;

    // per-message state
    private final long[] seen;
    private final int[] lengths;
    private long eventTime;
    private final List<Set<String>> accepted = new ArrayList<>();
    private double[] scratch = new double[64];

    ContractReader(Contract contract, String[] names, ColumnType[] types) {
        this.contract = contract;
        this.arity = names.length;
        final int n = contract.fields.length;
        this.positions = new int[n];
        this.columns = new ColumnType[n];
        Arrays.fill(positions, -1);
        for (int i = 0; i < names.length; i++) {
            final int f = contract.position(names[i]);
            if (f >= 0) {
                positions[f] = i;
                columns[f] = types[i];
            }
        }
        this.seen = new long[(n + 63) / 64];
        this.lengths = new int[n];
        for (int f = 0; f < n; f++) {
            accepted.add(contract.fields[f].pattern == null ? null : new HashSet<>());
        }
        // Strict JSON: the lenient reader accepts unescaped control characters, as Flink's does.
        this.factory = JsonFactory.builder().enable(StreamReadFeature.USE_FAST_DOUBLE_PARSER).build();
    }

    GenericRowData read(byte[] message) throws Rejection {
        if (message == null || message.length == 0) {
            throw new Rejection(RejectKind.NOT_JSON, "empty message");
        }
        try (JsonParser jp = factory.createParser(message)) {
            final JsonToken first = jp.nextToken();
            if (first != JsonToken.START_OBJECT) {
                throw first == null
                        ? new Rejection(RejectKind.NOT_JSON, "no JSON value in the message")
                        : new Rejection(RejectKind.NOT_AN_OBJECT, "the message is " + Rejection.describe(first) + ", not an object");
            }
            final GenericRowData row = readObject(jp);
            if (jp.nextToken() != null) {
                throw new Rejection(RejectKind.NOT_JSON, "content after the object");
            }
            checkRecord();
            return row;
        } catch (IOException e) { // syntax, end of input, Jackson's nesting and number limits
            throw new Rejection(RejectKind.NOT_JSON, Rejection.shorten(e.getMessage()));
        }
    }

    private GenericRowData readObject(JsonParser jp) throws IOException, Rejection {
        final GenericRowData row = new GenericRowData(arity);
        Arrays.fill(seen, 0L);
        Arrays.fill(lengths, -1);
        eventTime = Long.MIN_VALUE;
        final Contract.Rule[] fields = contract.fields;
        int expected = 0; // fields usually arrive in contract order: try that before the map
        JsonToken token;
        while ((token = jp.nextToken()) == JsonToken.FIELD_NAME) {
            final String name = jp.currentName();
            final int f = expected < fields.length && fields[expected].name.equals(name) ? expected : contract.position(name);
            jp.nextToken();
            if (f < 0) {
                if (!contract.additionalProperties) {
                    throw new Rejection(RejectKind.UNEXPECTED_FIELD, Rejection.quoted(name) + " is not a field of " + contract.topic);
                }
                jp.skipChildren();
                continue;
            }
            final long bit = 1L << (f & 63);
            if ((seen[f >>> 6] & bit) != 0) {
                throw new Rejection(RejectKind.DUPLICATE_FIELD, name + " appears twice");
            }
            seen[f >>> 6] |= bit;
            expected = f + 1;
            final Object value = readField(jp, f);
            if (positions[f] >= 0) {
                row.setField(positions[f], value);
            }
        }
        if (token != JsonToken.END_OBJECT) {
            throw new Rejection(RejectKind.NOT_JSON, "the object is cut short");
        }
        return row;
    }

    /** Checks of the whole record: required fields, equal lengths, event time. */
    private void checkRecord() throws Rejection {
        final Contract.Rule[] fields = contract.fields;
        for (int f = 0; f < fields.length; f++) {
            if (fields[f].required && (seen[f >>> 6] & (1L << (f & 63))) == 0) {
                throw new Rejection(RejectKind.MISSING_FIELD, "required field " + fields[f].name + " is missing");
            }
        }
        for (int[] pair : contract.equalLength) {
            final int a = lengths[pair[0]], b = lengths[pair[1]];
            if (a >= 0 && b >= 0 && a != b) {
                throw new Rejection(
                        RejectKind.UNEQUAL_LENGTH,
                        fields[pair[0]].name + " has " + a + " items but " + fields[pair[1]].name + " has " + b);
            }
        }
        if (contract.eventTime >= 0 && eventTime != Long.MIN_VALUE) {
            final long now = System.currentTimeMillis();
            final String name = fields[contract.eventTime].name;
            if (eventTime > now + contract.maxFutureMs) {
                throw new Rejection(
                        RejectKind.EVENT_TIME_AHEAD,
                        name + " " + eventTime + " is " + (eventTime - now) + " ms ahead of the consumer's clock (bound "
                                + contract.maxFutureMs + " ms)");
            }
            if (contract.maxAgeMs > 0 && eventTime < now - contract.maxAgeMs) {
                throw new Rejection(
                        RejectKind.EVENT_TIME_TOO_OLD,
                        name + " " + eventTime + " is " + (now - eventTime) + " ms old (bound " + contract.maxAgeMs + " ms)");
            }
        }
    }

    /** One field's value, checked; converted when the field is projected, else null. */
    private Object readField(JsonParser jp, int f) throws IOException, Rejection {
        final Contract.Rule rule = contract.fields[f];
        final ColumnType column = columns[f];
        if (jp.currentToken() == JsonToken.VALUE_NULL) {
            if (!rule.nullable) {
                throw new Rejection(RejectKind.NULL_VALUE, rule.name + " is null");
            }
            return null;
        }
        if (rule.kind == Contract.Rule.ARRAY) {
            return readArray(jp, rule, column, f);
        }
        if (rule.kind == Contract.Rule.INTEGER && f == contract.eventTime) {
            final long value = readInteger(jp, rule, rule.name, column);
            eventTime = value;
            return column == null ? null : box(value, column);
        }
        return readScalar(jp, rule, rule.name, column, f);
    }

    private Object readScalar(JsonParser jp, Contract.Rule rule, String path, ColumnType column, int f)
            throws IOException, Rejection {
        final JsonToken token = jp.currentToken();
        switch (rule.kind) {
            case Contract.Rule.NUMBER:
                if (token != JsonToken.VALUE_NUMBER_FLOAT && token != JsonToken.VALUE_NUMBER_INT) {
                    throw Rejection.wrongType(rule, path, token);
                }
                final double d = checkNumber(JsonValueReader.readDouble(jp), rule, path, jp);
                return column == null ? null : d;
            case Contract.Rule.INTEGER:
                final long value = readInteger(jp, rule, path, column);
                return column == null ? null : box(value, column);
            case Contract.Rule.STRING:
                if (token != JsonToken.VALUE_STRING) {
                    throw Rejection.wrongType(rule, path, token);
                }
                final String text = jp.getText();
                checkString(text, rule, path, f);
                return column == null ? null : StringData.fromString(text);
            case Contract.Rule.BOOLEAN:
                if (token != JsonToken.VALUE_TRUE && token != JsonToken.VALUE_FALSE) {
                    throw Rejection.wrongType(rule, path, token);
                }
                return column == null ? null : token == JsonToken.VALUE_TRUE;
            default: // an array inside an array (not in any of our schemas)
                return readArray(jp, rule, column, -1);
        }
    }

    private long readInteger(JsonParser jp, Contract.Rule rule, String path, ColumnType column)
            throws IOException, Rejection {
        final JsonToken token = jp.currentToken();
        final long value;
        if (token == JsonToken.VALUE_NUMBER_INT) {
            if (jp.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                throw new Rejection(RejectKind.OUT_OF_RANGE, path + " " + Rejection.shorten(jp.getText()) + " does not fit 64 bits");
            }
            value = jp.getLongValue();
        } else if (token == JsonToken.VALUE_NUMBER_FLOAT) { // JSON Schema: 2.0 is an integer
            final double d = jp.getDoubleValue();
            if (!Double.isFinite(d)) {
                throw new Rejection(RejectKind.NOT_FINITE, path + " " + Rejection.shorten(jp.getText()) + " is not a finite number");
            }
            if (d != Math.rint(d)) {
                throw new Rejection(RejectKind.WRONG_TYPE, path + ": expected an integer, got " + jp.getText());
            }
            if (Math.abs(d) >= 0x1p63) {
                throw new Rejection(RejectKind.OUT_OF_RANGE, path + " " + jp.getText() + " does not fit 64 bits");
            }
            value = (long) d;
        } else {
            throw Rejection.wrongType(rule, path, token);
        }
        if (column != null && column.kind == ColumnType.INT && (int) value != value) {
            throw new Rejection(RejectKind.OUT_OF_RANGE, path + " " + value + " does not fit 32 bits");
        }
        if (rule.integerEnum != null && !contains(rule.integerEnum, value)) {
            throw new Rejection(RejectKind.NOT_ALLOWED, path + " is " + value + ", not one of " + Arrays.toString(rule.integerEnum));
        }
        checkBounds(value, rule, path, Long.toString(value));
        return value;
    }

    private static double checkNumber(double value, Contract.Rule rule, String path, JsonParser jp)
            throws IOException, Rejection {
        if (!Double.isFinite(value)) {
            throw new Rejection(RejectKind.NOT_FINITE, path + " " + Rejection.shorten(jp.getText()) + " is not a finite number");
        }
        checkBounds(value, rule, path, jp.getText());
        return value;
    }

    private static void checkBounds(double value, Contract.Rule rule, String path, String text) throws Rejection {
        if (value < rule.minimum) { // false for a NaN bound: no minimum
            throw new Rejection(RejectKind.OUT_OF_RANGE, path + " is " + Rejection.shorten(text) + ", below the minimum " + rule.minimum);
        }
        if (!Double.isNaN(rule.exclusiveMinimum) && !(value > rule.exclusiveMinimum)) {
            throw new Rejection(
                    RejectKind.OUT_OF_RANGE, path + " is " + Rejection.shorten(text) + ", not above " + rule.exclusiveMinimum);
        }
    }

    private void checkString(String text, Contract.Rule rule, String path, int f) throws Rejection {
        if (rule.minLength > 0
                && text.length() < 2 * rule.minLength
                && text.codePointCount(0, text.length()) < rule.minLength) {
            throw new Rejection(RejectKind.NOT_ALLOWED, path + " is shorter than " + rule.minLength + " characters");
        }
        if (rule.stringEnum != null && !contains(rule.stringEnum, text)) {
            throw new Rejection(
                    RejectKind.NOT_ALLOWED, path + " is " + Rejection.quoted(text) + ", not one of " + Arrays.toString(rule.stringEnum));
        }
        if (rule.pattern != null) {
            final Set<String> known = f >= 0 ? accepted.get(f) : null;
            if (known != null && known.contains(text)) {
                return;
            }
            if (!rule.pattern.matcher(text).find()) {
                throw new Rejection(
                        RejectKind.NOT_ALLOWED, path + " is " + Rejection.quoted(text) + ", which does not match " + rule.patternText);
            }
            if (known != null) {
                if (known.size() >= PATTERN_CACHE) {
                    known.clear();
                }
                known.add(text);
            }
        }
    }

    /**
     * An array: its items checked one by one, their count against minItems/maxItems (counted as
     * they come, so a huge array is stopped at maxItems). ARRAY&lt;DOUBLE&gt; columns get a
     * primitive {@code double[]}, as from the lenient reader.
     */
    private Object readArray(JsonParser jp, Contract.Rule rule, ColumnType column, int f)
            throws IOException, Rejection {
        if (jp.currentToken() != JsonToken.START_ARRAY) {
            throw Rejection.wrongType(rule, rule.name, jp.currentToken());
        }
        final Contract.Rule item = rule.items;
        final ColumnType element = column == null ? null : column.element;
        final boolean primitive = element != null && element.kind == ColumnType.DOUBLE && !item.nullable;
        final List<Object> objects = column != null && !primitive ? new ArrayList<>() : null;
        int n = 0;
        JsonToken token;
        while ((token = jp.nextToken()) != JsonToken.END_ARRAY) {
            if (token == null) {
                throw new Rejection(RejectKind.NOT_JSON, rule.name + " is cut short");
            }
            if (rule.maxItems >= 0 && n == rule.maxItems) {
                throw new Rejection(RejectKind.ITEM_COUNT, rule.name + " has more than " + rule.maxItems + " items");
            }
            Object value = null;
            if (token == JsonToken.VALUE_NULL) {
                if (!item.nullable) {
                    throw new Rejection(RejectKind.NULL_VALUE, itemPath(rule, n) + " is null");
                }
            } else if (item.kind == Contract.Rule.NUMBER && (primitive || objects == null)) {
                if (token != JsonToken.VALUE_NUMBER_FLOAT && token != JsonToken.VALUE_NUMBER_INT) {
                    throw Rejection.wrongType(item, itemPath(rule, n), token);
                }
                final double d = JsonValueReader.readDouble(jp);
                if (!Double.isFinite(d) || d < item.minimum || !(Double.isNaN(item.exclusiveMinimum) || d > item.exclusiveMinimum)) {
                    checkNumber(d, item, itemPath(rule, n), jp); // throws, with the reason
                }
                if (primitive) {
                    if (n == scratch.length) {
                        scratch = Arrays.copyOf(scratch, n * 2);
                    }
                    scratch[n] = d;
                }
            } else {
                value = readScalar(jp, item, itemPath(rule, n), element, -1);
            }
            if (objects != null) {
                objects.add(value);
            }
            n++;
        }
        if (n < rule.minItems) {
            throw new Rejection(RejectKind.ITEM_COUNT, rule.name + " has " + n + " items, at least " + rule.minItems + " needed");
        }
        if (f >= 0) {
            lengths[f] = n;
        }
        if (column == null) {
            return null;
        }
        return primitive ? new GenericArrayData(Arrays.copyOf(scratch, n)) : new GenericArrayData(objects.toArray());
    }

    private static String itemPath(Contract.Rule rule, int index) {
        return rule.name + "[" + index + "]";
    }

    private static Object box(long value, ColumnType column) {
        return column.kind == ColumnType.INT ? (Object) (int) value : (Object) value;
    }

    private static boolean contains(long[] values, long value) {
        for (long v : values) {
            if (v == value) {
                return true;
            }
        }
        return false;
    }

    private static boolean contains(String[] values, String value) {
        for (String v : values) {
            if (v.equals(value)) {
                return true;
            }
        }
        return false;
    }

}
