package io.orderbookmonitor.flink.format;

import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.table.data.ArrayData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.types.logical.RowType;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactoryBuilder;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonGenerator;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.StreamWriteFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.io.SerializedString;

import java.io.IOException;
import java.util.List;
import java.util.Objects;

/**
 * A row as one JSON object: every column in order (a nested ROW as a nested object), SQL NULL as
 * JSON null, written by one reused {@link JsonGenerator} into one reused buffer.
 *
 * <p>Why: Flink's {@code json} encoder builds a Jackson ObjectNode tree per record and writes
 * doubles with the JDK's {@code Double.toString}; here the values go straight to the generator and
 * doubles through Jackson's fast writer ({@code StreamWriteFeature.USE_FAST_DOUBLE_WRITER}, the
 * shortest decimal that reads back to the same double). The output parses to the same object as
 * Flink's {@code json} output of the row (its default options): same field names and order, nulls
 * written, NaN and infinities as the strings "NaN", "Infinity", "-Infinity" (Jackson's default,
 * which Flink's encoder keeps). The digits of a double may differ, never its value.
 */
public final class ObmJsonSerializationSchema implements SerializationSchema<RowData> {

    private static final long serialVersionUID = 1L;

    private final RowType rowType;

    private transient ColumnType[] types;
    private transient SerializedString[] names;
    private transient ReusableOutputBuffer buffer;
    private transient JsonGenerator generator;

    public ObmJsonSerializationSchema(RowType rowType) {
        this.rowType = Objects.requireNonNull(rowType);
        ColumnType.ofRow(rowType); // fail at creation, not on the first record
    }

    @Override
    public void open(InitializationContext context) throws IOException {
        init();
    }

    private void init() throws IOException {
        types = ColumnType.ofRow(rowType);
        List<String> fieldNames = rowType.getFieldNames();
        names = new SerializedString[fieldNames.size()];
        for (int i = 0; i < names.length; i++) {
            names[i] = new SerializedString(fieldNames.get(i));
        }
        buffer = new ReusableOutputBuffer();
        openGenerator();
    }

    /** No separator between root values: each record is one object starting at offset 0. */
    private void openGenerator() throws IOException {
        JsonFactory factory =
                new JsonFactoryBuilder()
                        .enable(StreamWriteFeature.USE_FAST_DOUBLE_WRITER)
                        .rootValueSeparator((String) null)
                        .build();
        generator = factory.createGenerator(buffer);
    }

    @Override
    public byte[] serialize(RowData row) {
        try {
            if (generator == null) {
                init();
            }
            buffer.reset();
            JsonGenerator gen = generator;
            gen.writeStartObject();
            for (int i = 0; i < types.length; i++) {
                gen.writeFieldName(names[i]);
                writeField(gen, row, i, types[i]);
            }
            gen.writeEndObject();
            gen.flush();
            return buffer.toByteArray();
        } catch (Throwable t) {
            generator = null; // its state is mid-record: start a fresh one for the next record
            throw new RuntimeException(
                    "Could not serialize row '" + row + "'. Make sure that the schema matches the input.",
                    t);
        }
    }

    /** Field {@code i} of {@code row} (a nested ROW as an object of all its fields, nulls written). */
    private static void writeField(JsonGenerator gen, RowData row, int i, ColumnType type) throws IOException {
        if (row.isNullAt(i)) {
            gen.writeNull();
            return;
        }
        switch (type.kind) {
            case ColumnType.DOUBLE:
                gen.writeNumber(row.getDouble(i));
                break;
            case ColumnType.BIGINT:
                gen.writeNumber(row.getLong(i));
                break;
            case ColumnType.INT:
                gen.writeNumber(row.getInt(i));
                break;
            case ColumnType.BOOLEAN:
                gen.writeBoolean(row.getBoolean(i));
                break;
            case ColumnType.STRING:
                writeString(gen, row.getString(i));
                break;
            case ColumnType.ROW:
                writeRow(gen, row.getRow(i, type.fields.length), type);
                break;
            default:
                writeArray(gen, row.getArray(i), type.element);
        }
    }

    private static void writeRow(JsonGenerator gen, RowData nested, ColumnType type) throws IOException {
        gen.writeStartObject();
        for (int f = 0; f < type.fields.length; f++) {
            gen.writeFieldName(type.names[f]);
            writeField(gen, nested, f, type.fields[f]);
        }
        gen.writeEndObject();
    }

    private static void writeString(JsonGenerator gen, StringData value) throws IOException {
        byte[] utf8 = value.toBytes();
        gen.writeUTF8String(utf8, 0, utf8.length);
    }

    private static void writeArray(JsonGenerator gen, ArrayData array, ColumnType element)
            throws IOException {
        int n = array.size();
        gen.writeStartArray(array, n);
        for (int j = 0; j < n; j++) {
            if (array.isNullAt(j)) {
                gen.writeNull();
                continue;
            }
            switch (element.kind) {
                case ColumnType.DOUBLE:
                    gen.writeNumber(array.getDouble(j));
                    break;
                case ColumnType.BIGINT:
                    gen.writeNumber(array.getLong(j));
                    break;
                case ColumnType.INT:
                    gen.writeNumber(array.getInt(j));
                    break;
                case ColumnType.BOOLEAN:
                    gen.writeBoolean(array.getBoolean(j));
                    break;
                case ColumnType.STRING:
                    writeString(gen, array.getString(j));
                    break;
                case ColumnType.ROW:
                    writeRow(gen, array.getRow(j, element.fields.length), element);
                    break;
                default:
                    writeArray(gen, array.getArray(j), element.element);
            }
        }
        gen.writeEndArray();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ObmJsonSerializationSchema
                && rowType.equals(((ObmJsonSerializationSchema) o).rowType);
    }

    @Override
    public int hashCode() {
        return rowType.hashCode();
    }
}
