package io.orderbookmonitor.flink.format;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.Projection;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.format.EncodingFormat;
import org.apache.flink.table.connector.format.ProjectableDecodingFormat;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.factories.SerializationFormatFactory;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.RowType;

import java.util.Collections;
import java.util.List;
import java.util.Set;

/**
 * The {@code obm-json} table format: {@code 'format' = 'obm-json'}, or {@code 'value.format' =
 * 'obm-json'} on the Kafka connector. A faster drop-in for Flink's {@code json} format with
 * {@code json.ignore-parse-errors = true} on the column types our topic schemas use (see {@link
 * ObmJsonDeserializationSchema} and {@link ObmJsonSerializationSchema} for what it reads and
 * writes, and the differences that remain).
 *
 * <p>Options: none for reading as Flink's json does (the file sources of tests, and every sink).
 * A source that checks its topic's contract sets {@code contract} (the rules, as JSON, built from
 * the topic's schema by flink_jobs/connectors.py {@code format_contract}), the three columns that
 * receive a rejected message ({@code reason-column}, {@code payload-column},
 * {@code payload-encoding-column}: STRING columns of the table), {@code max-payload-chars} and the
 * event-time bounds {@code max-future-ms} and {@code max-age-ms} (0: none). With a contract, no
 * message is dropped and none fails the job (see {@link ObmJsonDeserializationSchema}). An unknown
 * {@code obm-json.*} option is rejected by the connector's checks.
 *
 * <p>The decoder supports projection of top-level columns (as Flink's json does): a job that
 * reads few columns of a wide topic only converts those.
 */
public final class ObmJsonFormatFactory implements DeserializationFormatFactory, SerializationFormatFactory {

    public static final String IDENTIFIER = "obm-json";

    static final ConfigOption<String> CONTRACT = ConfigOptions.key("contract").stringType().noDefaultValue();
    static final ConfigOption<String> REASON_COLUMN =
            ConfigOptions.key("reason-column").stringType().noDefaultValue();
    static final ConfigOption<String> PAYLOAD_COLUMN =
            ConfigOptions.key("payload-column").stringType().noDefaultValue();
    static final ConfigOption<String> PAYLOAD_ENCODING_COLUMN =
            ConfigOptions.key("payload-encoding-column").stringType().noDefaultValue();
    static final ConfigOption<Integer> MAX_PAYLOAD_CHARS =
            ConfigOptions.key("max-payload-chars").intType().defaultValue(512 * 1024);
    static final ConfigOption<Long> MAX_FUTURE_MS = ConfigOptions.key("max-future-ms").longType().noDefaultValue();
    static final ConfigOption<Long> MAX_AGE_MS = ConfigOptions.key("max-age-ms").longType().defaultValue(0L);
    private static final List<ConfigOption<String>> REJECT_COLUMNS =
            List.of(REASON_COLUMN, PAYLOAD_COLUMN, PAYLOAD_ENCODING_COLUMN);

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Collections.emptySet();
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Set.of(
                CONTRACT,
                REASON_COLUMN,
                PAYLOAD_COLUMN,
                PAYLOAD_ENCODING_COLUMN,
                MAX_PAYLOAD_CHARS,
                MAX_FUTURE_MS,
                MAX_AGE_MS);
    }

    @Override
    public DecodingFormat<DeserializationSchema<RowData>> createDecodingFormat(
            DynamicTableFactory.Context context, ReadableConfig formatOptions) {
        FactoryUtil.validateFactoryOptions(this, formatOptions);
        if (formatOptions.getOptional(CONTRACT).isEmpty()) {
            return new Decoding(null, new String[3], 0);
        }
        final String[] columns = new String[REJECT_COLUMNS.size()];
        for (int k = 0; k < columns.length; k++) {
            final ConfigOption<String> option = REJECT_COLUMNS.get(k);
            columns[k] =
                    formatOptions
                            .getOptional(option)
                            .orElseThrow(() -> Contract.invalid("a contract needs the '" + option.key() + "' option"));
        }
        final Contract contract =
                Contract.parse(
                        formatOptions.get(CONTRACT),
                        formatOptions
                                .getOptional(MAX_FUTURE_MS)
                                .orElseThrow(() -> Contract.invalid("a contract needs the 'max-future-ms' option")),
                        formatOptions.get(MAX_AGE_MS));
        return new Decoding(contract, columns, formatOptions.get(MAX_PAYLOAD_CHARS));
    }

    @Override
    public EncodingFormat<SerializationSchema<RowData>> createEncodingFormat(
            DynamicTableFactory.Context context, ReadableConfig formatOptions) {
        FactoryUtil.validateFactoryOptions(this, formatOptions);
        return new Encoding();
    }

    /**
     * Creates the decoder for the (projected) physical row; checks every physical column's type,
     * and with a contract that each column is a contract field of a matching type or a reject
     * column (a STRING), so a DDL that disagrees with its schema fails when the source is created.
     */
    private static final class Decoding implements ProjectableDecodingFormat<DeserializationSchema<RowData>> {

        private final Contract contract;
        private final String[] rejectColumns;
        private final int maxPayloadChars;

        Decoding(Contract contract, String[] rejectColumns, int maxPayloadChars) {
            this.contract = contract;
            this.rejectColumns = rejectColumns;
            this.maxPayloadChars = maxPayloadChars;
        }

        @Override
        public DeserializationSchema<RowData> createRuntimeDecoder(
                DynamicTableSource.Context context, DataType physicalDataType, int[][] projections) {
            final RowType physical = (RowType) physicalDataType.getLogicalType();
            final ColumnType[] types = ColumnType.ofRow(physical);
            if (contract != null) {
                contract.checkColumns(physical.getFieldNames(), types, rejectColumns);
            }
            DataType produced = Projection.of(projections).project(physicalDataType);
            return new ObmJsonDeserializationSchema(
                    (RowType) produced.getLogicalType(),
                    context.createTypeInformation(produced),
                    contract,
                    rejectColumns,
                    maxPayloadChars);
        }

        @Override
        public ChangelogMode getChangelogMode() {
            return ChangelogMode.insertOnly();
        }
    }

    /** Creates the encoder for the physical row the sink writes (the value columns on Kafka). */
    private static final class Encoding implements EncodingFormat<SerializationSchema<RowData>> {

        @Override
        public SerializationSchema<RowData> createRuntimeEncoder(
                DynamicTableSink.Context context, DataType physicalDataType) {
            return new ObmJsonSerializationSchema((RowType) physicalDataType.getLogicalType());
        }

        @Override
        public ChangelogMode getChangelogMode() {
            return ChangelogMode.insertOnly();
        }
    }
}
