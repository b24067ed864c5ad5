package io.orderbookmonitor.flink.format;

import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.StringData;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Converts the JSON value under the parser's current token into Flink's internal representation
 * of one column.
 *
 * <p>Why it mirrors Flink's {@code JsonParserToRowDataConverters} token for token: our sources ran
 * on Flink's {@code json} format with {@code json.ignore-parse-errors}, and the jobs must read the
 * same rows from the same bytes. So every value is converted the way that class converts it (a
 * JSON null or a failed conversion is SQL NULL for that value only, numbers given as strings are
 * parsed, a STRING column takes any scalar's text and an object's or array's JSON), and a failed
 * conversion leaves the parser where Flink's leaves it, so that even a record of the wrong shape
 * is walked into the same row. What differs is cost: numbers go through Jackson's fast double
 * parser ({@code StreamReadFeature.USE_FAST_DOUBLE_PARSER}, configured on the parser's factory)
 * instead of {@code Double.parseDouble(getText().trim())}, and an ARRAY&lt;DOUBLE&gt; is built as a
 * primitive {@code double[]} rather than a list of boxed Doubles.
 *
 * <p>Not thread-safe: one instance per deserializer (it keeps a scratch buffer for arrays).
 */
final class JsonValueReader {

    /** Reused across records: the doubles of the array being read. */
    private double[] scratch = new double[64];

    /**
     * The value under the current token: null for a missing token, JSON null or a value that does
     * not convert (the error is swallowed, as Flink's json does with ignore-parse-errors).
     */
    Object readNullable(JsonParser jp, ColumnType type) {
        JsonToken token = jp.currentToken();
        if (token == null || token == JsonToken.VALUE_NULL) {
            return null;
        }
        try {
            return readNotNull(jp, type);
        } catch (Throwable t) {
            return null;
        }
    }

    private Object readNotNull(JsonParser jp, ColumnType type) throws IOException {
        switch (type.kind) {
            case ColumnType.DOUBLE:
                return readDouble(jp);
            case ColumnType.BIGINT:
                return readLong(jp);
            case ColumnType.INT:
                return readInt(jp);
            case ColumnType.BOOLEAN:
                return readBoolean(jp);
            case ColumnType.STRING:
                return readString(jp);
            case ColumnType.ARRAY:
                return type.element.kind == ColumnType.DOUBLE
                        ? readDoubleArray(jp)
                        : readArray(jp, type.element);
            case ColumnType.ROW:
                return readRow(jp, type);
            default:
                throw new IllegalStateException("unknown column kind " + type.kind);
        }
    }

    /**
     * A JSON float through the fast parser; an integer exactly as Flink reads it (its decimal text
     * to the nearest double, which a long's conversion gives too, except "-0": -0.0); anything else
     * through {@code Double.parseDouble} of its trimmed text, as Flink does ("1.5", " 2 ", "NaN").
     */
    static double readDouble(JsonParser jp) throws IOException {
        JsonToken token = jp.currentToken();
        if (token == JsonToken.VALUE_NUMBER_FLOAT) {
            return jp.getDoubleValue();
        }
        if (token == JsonToken.VALUE_NUMBER_INT
                && jp.getNumberType() != JsonParser.NumberType.BIG_INTEGER) {
            long value = jp.getLongValue();
            if (value != 0) {
                return (double) value;
            }
        }
        return Double.parseDouble(jp.getText().trim());
    }

    private static long readLong(JsonParser jp) throws IOException {
        JsonToken token = jp.currentToken();
        if (token == JsonToken.VALUE_NUMBER_INT || token == JsonToken.VALUE_NUMBER_FLOAT) {
            return jp.getLongValue();
        }
        return Long.parseLong(jp.getText().trim());
    }

    private static int readInt(JsonParser jp) throws IOException {
        JsonToken token = jp.currentToken();
        if (token == JsonToken.VALUE_NUMBER_INT || token == JsonToken.VALUE_NUMBER_FLOAT) {
            return jp.getIntValue();
        }
        return Integer.parseInt(jp.getText().trim());
    }

    private static boolean readBoolean(JsonParser jp) throws IOException {
        JsonToken token = jp.currentToken();
        if (token == JsonToken.VALUE_TRUE) {
            return true;
        }
        if (token == JsonToken.VALUE_FALSE) {
            return false;
        }
        return Boolean.parseBoolean(jp.getText().trim());
    }

    /** A scalar's text; an object or array as its JSON (needs the parser's ObjectMapper codec). */
    private static StringData readString(JsonParser jp) throws IOException {
        JsonToken token = jp.currentToken();
        if (token == JsonToken.START_OBJECT || token == JsonToken.START_ARRAY) {
            return StringData.fromString(jp.readValueAsTree().toString());
        }
        return StringData.fromString(jp.getText());
    }

    /**
     * ARRAY&lt;DOUBLE&gt; without boxing: a primitive {@code double[]} when no element is null (the
     * normal case), else an array of Doubles with the nulls, as Flink builds it.
     */
    private GenericArrayData readDoubleArray(JsonParser jp) throws IOException {
        if (jp.currentToken() != JsonToken.START_ARRAY) {
            throw new IllegalStateException("Illegal JSON array data...");
        }
        double[] values = scratch;
        boolean[] nulls = null;
        int n = 0;
        JsonToken token;
        while ((token = jp.nextToken()) != JsonToken.END_ARRAY) {
            if (n == values.length) {
                values = scratch = Arrays.copyOf(values, n * 2);
                if (nulls != null) {
                    nulls = Arrays.copyOf(nulls, n * 2);
                }
            }
            boolean isNull = token == null || token == JsonToken.VALUE_NULL;
            if (!isNull) {
                try {
                    values[n] = readDouble(jp);
                } catch (Throwable t) {
                    isNull = true;
                }
            }
            if (isNull) {
                if (nulls == null) {
                    nulls = new boolean[values.length];
                }
                nulls[n] = true;
            }
            n++;
        }
        if (nulls == null) {
            return new GenericArrayData(Arrays.copyOf(values, n));
        }
        Double[] boxed = new Double[n];
        for (int i = 0; i < n; i++) {
            boxed[i] = nulls[i] ? null : values[i];
        }
        return new GenericArrayData(boxed);
    }

    /**
     * A nested object as a row of its type's fields, by name, as Flink's json reads it: a missing
     * field is NULL, an unknown one skipped.
     */
    private GenericRowData readRow(JsonParser jp, ColumnType type) throws IOException {
        if (jp.currentToken() != JsonToken.START_OBJECT) {
            throw new IllegalStateException("Illegal JSON object data...");
        }
        final GenericRowData row = new GenericRowData(type.fields.length);
        while (jp.nextToken() == JsonToken.FIELD_NAME) {
            final String name = jp.currentName();
            jp.nextToken();
            int f = type.names.length - 1;
            while (f >= 0 && !type.names[f].equals(name)) {
                f--;
            }
            if (f < 0) {
                jp.skipChildren();
            } else {
                row.setField(f, readNullable(jp, type.fields[f]));
            }
        }
        return row;
    }

    /** Arrays of other element types: a list of the converted elements, as Flink builds it. */
    private GenericArrayData readArray(JsonParser jp, ColumnType element) throws IOException {
        if (jp.currentToken() != JsonToken.START_ARRAY) {
            throw new IllegalStateException("Illegal JSON array data...");
        }
        List<Object> result = new ArrayList<>();
        while (jp.nextToken() != JsonToken.END_ARRAY) {
            result.add(readNullable(jp, element));
        }
        return new GenericArrayData(result.toArray());
    }
}
