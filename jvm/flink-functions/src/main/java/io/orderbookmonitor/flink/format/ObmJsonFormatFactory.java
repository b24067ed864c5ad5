package io.orderbookmonitor.flink.format;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.configuration.ConfigOption;
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
import java.util.Set;

/**
 * The {@code obm-json} table format: {@code 'format' = 'obm-json'}, or {@code 'value.format' =
 * 'obm-json'} on the Kafka connector. A faster drop-in for Flink's {@code json} format with
 * {@code json.ignore-parse-errors = true} on the column types our topic schemas use (see {@link
 * ObmJsonDeserializationSchema} and {@link ObmJsonSerializationSchema} for what it reads and
 * writes, and the differences that remain).
 *
 * <p>Why option-less: every topic of the project is JSON objects of those types, and the sources
 * always skip a malformed record (the producer has already routed those to the DLQ), so there is
 * nothing to choose. An unknown {@code obm-json.*} option is rejected by the connector's checks.
 *
 * <p>The decoder supports projection of top-level columns (as Flink's json does): a job that
 * reads few columns of a wide topic only converts those.
 */
public final class ObmJsonFormatFactory implements DeserializationFormatFactory, SerializationFormatFactory {

    public static final String IDENTIFIER = "obm-json";

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
        return Collections.emptySet();
    }

    @Override
    public DecodingFormat<DeserializationSchema<RowData>> createDecodingFormat(
            DynamicTableFactory.Context context, ReadableConfig formatOptions) {
        FactoryUtil.validateFactoryOptions(this, formatOptions);
        return new Decoding();
    }

    @Override
    public EncodingFormat<SerializationSchema<RowData>> createEncodingFormat(
            DynamicTableFactory.Context context, ReadableConfig formatOptions) {
        FactoryUtil.validateFactoryOptions(this, formatOptions);
        return new Encoding();
    }

    /** Creates the decoder for the (projected) physical row; checks every physical column's type. */
    private static final class Decoding implements ProjectableDecodingFormat<DeserializationSchema<RowData>> {

        @Override
        public DeserializationSchema<RowData> createRuntimeDecoder(
                DynamicTableSource.Context context, DataType physicalDataType, int[][] projections) {
            ColumnType.ofRow((RowType) physicalDataType.getLogicalType());
            DataType produced = Projection.of(projections).project(physicalDataType);
            return new ObmJsonDeserializationSchema(
                    (RowType) produced.getLogicalType(), context.createTypeInformation(produced));
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
