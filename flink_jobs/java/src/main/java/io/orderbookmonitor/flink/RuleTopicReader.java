package io.orderbookmonitor.flink;

import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.PartitionInfo;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.TopicPartition;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/** Reads the compacted rules topic for a {@link RuleBook}: from its start (every partition, no
 * consumer group), then each change as it comes, polling every 100 ms. */
final class RuleTopicReader {
    private static final Logger LOG = LoggerFactory.getLogger(RuleTopicReader.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String servers;
    private final String topic;
    private final RuleBook book;

    RuleTopicReader(String servers, String topic, RuleBook book) {
        this.servers = servers;
        this.topic = topic;
        this.book = book;
    }

    void read(Map<Long, RuleSpec> live) throws InterruptedException {
        final Properties props = new Properties();
        props.put("bootstrap.servers", servers);
        props.put("key.deserializer", ByteArrayDeserializer.class.getName());
        props.put("value.deserializer", ByteArrayDeserializer.class.getName());
        props.put("enable.auto.commit", "false");
        props.put("client.id", "obm-rules-reader");
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            List<TopicPartition> partitions = partitionsOf(consumer, topic);
            while (partitions.isEmpty() && !book.stopping()) {
                book.markLoaded(); // no topic yet: no rules
                Thread.sleep(1000);
                partitions = partitionsOf(consumer, topic);
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            final Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
            live.clear();
            while (!book.stopping()) {
                boolean changed = false;
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(100))) {
                    changed |= apply(live, record);
                }
                if (changed) {
                    final RuleSet rules = RuleSet.of(live.values());
                    book.publish(rules);
                    LOG.info("rules from {}: {} live", topic, rules.size());
                }
                if (!book.isLoaded() && caughtUp(consumer, end)) {
                    book.publish(RuleSet.of(live.values()));
                    book.markLoaded();
                }
            }
        }
    }

    private static List<TopicPartition> partitionsOf(KafkaConsumer<byte[], byte[]> consumer, String topic) {
        final List<TopicPartition> out = new ArrayList<>();
        final List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(10));
        if (infos != null) {
            for (PartitionInfo info : infos) {
                out.add(new TopicPartition(topic, info.partition()));
            }
        }
        return out;
    }

    private static boolean caughtUp(KafkaConsumer<byte[], byte[]> consumer, Map<TopicPartition, Long> end) {
        for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
            if (consumer.position(e.getKey()) < e.getValue()) {
                return false;
            }
        }
        return true;
    }

    /** One record of the topic: a live rule replaces its id's, a disabled or deleted one (or a
     * tombstone) removes it. A record that cannot be read is logged and skipped. */
    private static boolean apply(Map<Long, RuleSpec> live, ConsumerRecord<byte[], byte[]> record) {
        try {
            if (record.value() == null) {
                return live.remove(Long.parseLong(new String(record.key(), StandardCharsets.UTF_8))) != null;
            }
            final JsonNode node = JSON.readTree(record.value());
            final long id = node.get("rule_id").asLong();
            if (RuleSet.isLive(node)) {
                live.put(id, RuleSpec.parse(node));
            } else {
                live.remove(id);
            }
            return true;
        } catch (Exception e) {
            LOG.warn("skipping a rules record at offset {}: {}", record.offset(), e.toString());
            return false;
        }
    }
}
