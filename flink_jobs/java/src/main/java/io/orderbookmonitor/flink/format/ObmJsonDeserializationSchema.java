package io.orderbookmonitor.flink.format;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.SimpleCounter;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.types.logical.RowType;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.StreamReadFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.json.JsonReadFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * One JSON object per message into a {@link GenericRowData}, straight from Jackson's token stream.
 *
 * <p>Why: Flink's {@code json} format parses every number with {@code Double.parseDouble} of its
 * text and boxes every array element; for an orderbook.raw record (80 doubles) that was about a
 * third of the source thread's CPU. This schema reads the same rows as Flink's {@code json} with
 * {@code json.ignore-parse-errors = true}, which is what our sources used: a message that is not
 * JSON, not an object, or breaks off gives no row (null), never an exception; a field that is
 * missing, JSON null or of a type that does not convert is SQL NULL; unknown fields are skipped.
 *
 * <p>The walk over an object is Flink's own ({@code JsonParserToRowDataConverters#createRowConverter}):
 * field names are looked up in a map built once, a value that fails to convert is not skipped
 * (the walk goes on from inside it, as Flink's does), and once as many known fields were read as
 * the row has columns the rest is skipped, so even a duplicate key gives Flink's row. Messages are
 * not checked for trailing content after the object (Flink does not either).
 *
 * <p><b>With a contract</b> (the {@code contract} option, which every Kafka source of the jobs
 * sets: flink_jobs/connectors.py), a message is checked against its topic's contract as it is
 * read ({@link ContractReader}) and this schema never drops one and never throws: a message that
 * conforms gives the same row as without a contract (its reject columns NULL); one that does not
 * (not JSON, wrong types, nulls, missing or extra fields, non-finite or out-of-range numbers,
 * arrays of the wrong or unequal length, an event time out of bounds) gives a row whose contract
 * columns are all NULL and whose reject columns hold the reason ({@code "<kind>: <detail>"}), the
 * original bytes (UTF-8 text, or base64 when they are not UTF-8; cut at the DLQ's payload limit,
 * which the reason then says) and their encoding. The jobs send those rows to orderbook.dlq. Each
 * rejection counts in the source's metric group as {@code obm_rejected_<kind>} ({@link
 * RejectKind}). A rejected row's event time is NULL, so it never moves a watermark.
 *
 * <p>Differences from Flink's {@code json} that remain (none shows in rows: the differential
 * tests in tests/flink/test_obm_json_format.py read real and synthetic records and an edge-case
 * corpus through both and compare every value, -0.0, NaN and int-vs-float included):
 * <ul>
 *   <li>ARRAYs of non-DOUBLE elements are {@code Object[]} where Flink builds typed arrays
 *       ({@code Long[]}, ...), and an ARRAY&lt;DOUBLE&gt; without nulls is a {@code double[]}: the
 *       same SQL values through {@code ArrayData}.
 *   <li>Where Flink's walk would loop on a parser that returned end-of-input inside an object
 *       (Jackson throws there instead, so it is not reached), this one gives no row.
 *   <li>Not supported, as our schemas never need them: types other than INT, BIGINT, DOUBLE,
 *       BOOLEAN, STRING and ARRAYs of them (rejected when the source or sink is created, naming the
 *       column), nested projection, and the json options ({@code fail-on-missing-field},
 *       timestamp formats, ...): obm-json has none and always ignores parse errors.
 * </ul>
 */
public final class ObmJsonDeserializationSchema implements DeserializationSchema<RowData> {

    private static final long serialVersionUID = 1L;

    private final RowType rowType;
    private final TypeInformation<RowData> producedType;
    /** Null: the lenient reading above (no contract). */
    private final Contract contract;
    private final String[] rejectColumns; // reason, payload, payload encoding
    private final int maxPayloadChars;

    private transient JsonFactory factory;
    private transient ColumnType[] types;
    private transient String[] names;
    private transient Map<String, Integer> positions;
    private transient JsonValueReader reader;
    private transient ContractReader checked;
    private transient int[] rejectPositions;
    private transient Counter[] rejected;

    /** Lenient: Flink's json with ignore-parse-errors. */
    public ObmJsonDeserializationSchema(RowType rowType, TypeInformation<RowData> producedType) {
        this(rowType, producedType, null, new String[3], 0);
    }

    /**
     * Checking the contract given as the {@code contract} option's JSON, with its event-time
     * bounds: what the format factory builds for a source with a contract, here for callers that
     * have no table (the property tests call it through PyFlink's gateway).
     */
    public ObmJsonDeserializationSchema(
            RowType rowType,
            TypeInformation<RowData> producedType,
            String contractJson,
            long maxFutureMs,
            long maxAgeMs,
            String[] rejectColumns,
            int maxPayloadChars) {
        this(rowType, producedType, Contract.parse(contractJson, maxFutureMs, maxAgeMs), rejectColumns, maxPayloadChars);
    }

    /**
     * Checking {@code contract}: {@code rejectColumns} names the reason, payload and payload
     * encoding columns (each may be absent from a projected {@code rowType}); payloads longer than
     * {@code maxPayloadChars} characters are cut.
     */
    ObmJsonDeserializationSchema(
            RowType rowType,
            TypeInformation<RowData> producedType,
            Contract contract,
            String[] rejectColumns,
            int maxPayloadChars) {
        this.rowType = Objects.requireNonNull(rowType);
        this.producedType = Objects.requireNonNull(producedType);
        this.contract = contract;
        this.rejectColumns = rejectColumns.clone();
        this.maxPayloadChars = maxPayloadChars;
        ColumnType.ofRow(rowType); // fail at creation, not on the first record
    }

    /** Registers the rejection counters in the source's metric group. */
    @Override
    public void open(InitializationContext context) {
        init();
        for (RejectKind kind : RejectKind.values()) {
            rejected[kind.ordinal()] = context.getMetricGroup().counter(kind.metricName());
        }
    }

    private void init() {
        types = ColumnType.ofRow(rowType);
        names = rowType.getFieldNames().toArray(new String[0]);
        positions = new HashMap<>();
        for (int i = 0; i < names.length; i++) {
            positions.put(names[i], i);
        }
        reader = new JsonValueReader();
        factory = newFactory();
        rejectPositions = new int[rejectColumns.length];
        for (int k = 0; k < rejectColumns.length; k++) {
            final Integer pos = rejectColumns[k] == null ? null : positions.get(rejectColumns[k]);
            rejectPositions[k] = pos == null ? -1 : pos;
        }
        checked = contract == null ? null : new ContractReader(contract, names, types);
        rejected = new Counter[RejectKind.values().length];
        for (int k = 0; k < rejected.length; k++) {
            rejected[k] = new SimpleCounter(); // replaced by the metric group's in open()
        }
    }

    /** The rejections so far of a kind ({@code "wrong_type"}, ...), as the metric counts them. */
    public long rejectedCount(String kind) {
        if (factory == null) {
            init();
        }
        return rejected[RejectKind.valueOf(kind.toUpperCase(java.util.Locale.ROOT)).ordinal()].getCount();
    }

    /**
     * Flink's json parser settings (unescaped control characters in strings are accepted) plus the
     * fast double parser. The ObjectMapper is the parser's codec: a STRING column given an object
     * or an array reads it as a tree and keeps its JSON, as Flink's does.
     */
    static JsonFactory newFactory() {
        JsonFactory factory =
                JsonFactory.builder()
                        .enable(JsonReadFeature.ALLOW_UNESCAPED_CONTROL_CHARS)
                        .enable(StreamReadFeature.USE_FAST_DOUBLE_PARSER)
                        .build();
        return new ObjectMapper(factory).getFactory();
    }

    @Override
    public RowData deserialize(byte[] message) {
        if (factory == null) {
            init();
        }
        if (checked != null) {
            try {
                return checked.read(message);
            } catch (Rejection r) {
                return rejectedRow(r, message);
            } catch (Throwable t) { // a bug in the reader: the message is kept, the job goes on
                return rejectedRow(new Rejection(RejectKind.UNREADABLE, t.toString()), message);
            }
        }
        if (message == null || message.length == 0) {
            return null;
        }
        try (JsonParser jp = factory.createParser(message)) {
            if (jp.currentToken() == null) {
                jp.nextToken();
            }
            if (jp.currentToken() != JsonToken.START_OBJECT) {
                return null;
            }
            return readRow(jp);
        } catch (Throwable t) {
            return null; // not JSON, cut short, nesting or number limits: no row, as with Flink's
        }
    }

    private GenericRowData readRow(JsonParser jp) throws IOException {
        final int arity = types.length;
        GenericRowData row = new GenericRowData(arity);
        int found = 0;
        int expected = 0; // fields usually arrive in column order: try that before the map
        jp.nextToken();
        while (jp.currentToken() != JsonToken.END_OBJECT) {
            if (found >= arity) {
                skipToNextField(jp);
                continue;
            }
            String name = jp.getText();
            jp.nextToken();
            int pos;
            if (expected < arity && names[expected].equals(name)) {
                pos = expected;
            } else {
                Integer known = name == null ? null : positions.get(name);
                pos = known == null ? -1 : known;
            }
            if (pos >= 0) {
                row.setField(pos, reader.readNullable(jp, types[pos]));
                jp.nextToken();
                found++;
                expected = pos + 1;
            } else {
                skipToNextField(jp);
            }
        }
        return row;
    }

    /**
     * The row of a message that breaks the contract: every contract column NULL, the reason, the
     * original bytes and their encoding in the reject columns (those that are projected).
     */
    private GenericRowData rejectedRow(Rejection rejection, byte[] message) {
        rejected[rejection.kind.ordinal()].inc();
        final byte[] bytes = message == null ? new byte[0] : message;
        String payload;
        String encoding = "utf-8";
        try {
            payload = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            payload = Base64.getEncoder().encodeToString(bytes);
            encoding = "base64";
        }
        String reason = rejection.reason();
        if (payload.length() > maxPayloadChars) { // the DLQ's limit (schemas/dlq.py MAX_PAYLOAD_CHARS)
            reason += " (payload truncated from " + payload.length() + " chars)";
            int cut = maxPayloadChars;
            if (cut > 0 && Character.isHighSurrogate(payload.charAt(cut - 1))) {
                cut--;
            }
            payload = payload.substring(0, cut);
        }
        final GenericRowData row = new GenericRowData(types.length);
        final String[] values = {reason, payload, encoding};
        for (int k = 0; k < values.length; k++) {
            if (rejectPositions[k] >= 0) {
                row.setField(rejectPositions[k], StringData.fromString(values[k]));
            }
        }
        return row;
    }

    /** Flink's skip: past a whole object or array, or past one scalar or name token. */
    private static void skipToNextField(JsonParser jp) throws IOException {
        JsonToken token = jp.currentToken();
        if (token == null) {
            throw new IOException("unexpected end of input");
        }
        if (token == JsonToken.START_OBJECT || token == JsonToken.START_ARRAY) {
            int depth = 1;
            while (depth > 0) {
                JsonToken next = jp.nextToken();
                if (next == JsonToken.END_ARRAY || next == JsonToken.END_OBJECT) {
                    depth--;
                } else if (next == JsonToken.START_ARRAY || next == JsonToken.START_OBJECT) {
                    depth++;
                } else if (next == null) {
                    throw new IOException("unexpected end of input");
                }
            }
        }
        jp.nextToken();
    }

    @Override
    public boolean isEndOfStream(RowData nextElement) {
        return false;
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return producedType;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof ObmJsonDeserializationSchema)) {
            return false;
        }
        final ObmJsonDeserializationSchema other = (ObmJsonDeserializationSchema) o;
        return rowType.equals(other.rowType)
                && producedType.equals(other.producedType)
                && Objects.equals(contract, other.contract)
                && java.util.Arrays.equals(rejectColumns, other.rejectColumns)
                && maxPayloadChars == other.maxPayloadChars;
    }

    @Override
    public int hashCode() {
        return Objects.hash(rowType, producedType, contract);
    }
}
