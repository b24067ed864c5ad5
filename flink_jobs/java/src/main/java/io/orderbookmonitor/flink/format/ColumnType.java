package io.orderbookmonitor.flink.format;

import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.types.logical.ArrayType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;

import java.io.Serializable;
import java.util.List;

/**
 * The SQL types obm-json reads and writes, resolved once per table into a small int code so the
 * per-record loops switch on an int instead of calling through a converter object per field.
 *
 * <p>Why only these: they are exactly what our topic schemas map to (flink_jobs/connectors.py
 * {@code _sql_type}: INT, BIGINT, DOUBLE, BOOLEAN, STRING, ARRAYs of them and ROWs of them for a
 * nested object such as an alert's {@code context}). Anything else is a
 * mistake in a DDL, so it fails when the table's source or sink is created, naming the column,
 * instead of decoding to something subtly different from what Flink's {@code json} would give.
 */
final class ColumnType implements Serializable {

    private static final long serialVersionUID = 1L;

    static final int BOOLEAN = 0;
    static final int INT = 1;
    static final int BIGINT = 2;
    static final int DOUBLE = 3;
    static final int STRING = 4;
    static final int ARRAY = 5;
    /** A nested JSON object: {@link #fields} named {@link #names}, in order. */
    static final int ROW = 6;

    /** One of the constants above. */
    final int kind;

    /** The element type when {@link #kind} is {@link #ARRAY}, else null. */
    final ColumnType element;

    /** The field types and names when {@link #kind} is {@link #ROW}, else null. */
    final ColumnType[] fields;

    final String[] names;

    private ColumnType(int kind, ColumnType element) {
        this(kind, element, null, null);
    }

    private ColumnType(int kind, ColumnType element, ColumnType[] fields, String[] names) {
        this.kind = kind;
        this.element = element;
        this.fields = fields;
        this.names = names;
    }

    /** The column types of a row, in order; fails on the first column obm-json cannot handle. */
    static ColumnType[] ofRow(RowType rowType) {
        List<RowType.RowField> fields = rowType.getFields();
        ColumnType[] types = new ColumnType[fields.size()];
        for (int i = 0; i < types.length; i++) {
            RowType.RowField field = fields.get(i);
            types[i] = of(field.getName(), field.getType());
        }
        return types;
    }

    static ColumnType of(String column, LogicalType type) {
        ColumnType resolved = resolve(type);
        if (resolved == null) {
            throw new ValidationException(
                    String.format(
                            "The '%s' format does not support column `%s` of type %s: it reads and writes"
                                    + " only INT, BIGINT, DOUBLE, BOOLEAN, STRING, ARRAYs and ROWs of them (use"
                                    + " 'format' = 'json' for other types).",
                            ObmJsonFormatFactory.IDENTIFIER, column, type.asSummaryString()));
        }
        return resolved;
    }

    /** The code of a supported type, or null. */
    private static ColumnType resolve(LogicalType type) {
        switch (type.getTypeRoot()) {
            case BOOLEAN:
                return new ColumnType(BOOLEAN, null);
            case INTEGER:
                return new ColumnType(INT, null);
            case BIGINT:
                return new ColumnType(BIGINT, null);
            case DOUBLE:
                return new ColumnType(DOUBLE, null);
            case VARCHAR:
                return new ColumnType(STRING, null);
            case ARRAY:
                ColumnType element = resolve(((ArrayType) type).getElementType());
                return element == null ? null : new ColumnType(ARRAY, element);
            case ROW:
                final List<RowType.RowField> rowFields = ((RowType) type).getFields();
                final ColumnType[] fields = new ColumnType[rowFields.size()];
                final String[] names = new String[fields.length];
                for (int i = 0; i < fields.length; i++) {
                    fields[i] = resolve(rowFields.get(i).getType());
                    names[i] = rowFields.get(i).getName();
                    if (fields[i] == null) {
                        return null;
                    }
                }
                return new ColumnType(ROW, null, fields, names);
            default:
                return null;
        }
    }
}
