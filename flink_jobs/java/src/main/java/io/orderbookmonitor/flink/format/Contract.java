package io.orderbookmonitor.flink.format;

import org.apache.flink.table.api.ValidationException;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A topic's contract as the {@code contract} option gives it: the rules of schemas/ in the small
 * vocabulary flink_jobs/connectors.py {@code format_contract} translates the JSON Schema into
 * (a kind per field, null allowed or not, required, minimum, exclusiveMinimum, minLength, pattern,
 * enum, minItems, maxItems, array items; whether other fields are allowed; the x-equal-length
 * pairs and the x-event-time field), plus the event-time bounds of the consumer's settings.
 *
 * <p>Why data and not code: the schema is the one definition of what conforms (Python consumers
 * check the same schema through schemas/conformance.py); the format only interprets it, so a
 * schema change reaches the Flink jobs without a Java change, and a keyword the format cannot
 * check fails when the DDL is built, not silently.
 */
final class Contract implements Serializable {

    private static final long serialVersionUID = 1L;

    /** One field's (or one array element's) rule. */
    static final class Rule implements Serializable {

        private static final long serialVersionUID = 1L;

        static final int BOOLEAN = 0;
        static final int INTEGER = 1;
        static final int NUMBER = 2;
        static final int STRING = 3;
        static final int ARRAY = 4;
        private static final String[] KIND_NAMES = {"a boolean", "an integer", "a number", "a string", "an array"};

        final String name;
        final int kind;
        final boolean nullable;
        final boolean required;
        /** NaN: no bound. */
        final double minimum;
        final double exclusiveMinimum;
        /** -1: no bound. */
        final int minLength;
        final int minItems;
        final int maxItems;
        /** ECMA-262 semantics: a final {@code $} matches only at the end (Java's also before a line break). */
        final Pattern pattern;
        /** The pattern as the schema writes it (for reasons). */
        final String patternText;
        final String[] stringEnum;
        final long[] integerEnum;
        final Rule items;

        Rule(String name, JsonNode node) {
            this.name = name;
            this.kind = kindOf(name, node.path("type").asText());
            this.nullable = node.path("nullable").asBoolean(false);
            this.required = node.path("required").asBoolean(false);
            this.minimum = node.has("minimum") ? node.get("minimum").asDouble() : Double.NaN;
            this.exclusiveMinimum =
                    node.has("exclusiveMinimum") ? node.get("exclusiveMinimum").asDouble() : Double.NaN;
            this.minLength = node.path("minLength").asInt(-1);
            this.minItems = node.path("minItems").asInt(-1);
            this.maxItems = node.path("maxItems").asInt(-1);
            this.patternText = node.has("pattern") ? node.get("pattern").asText() : null;
            this.pattern = patternText == null ? null : ecmaPattern(patternText);
            String[] strings = null;
            long[] integers = null;
            if (node.has("enum")) {
                final JsonNode values = node.get("enum");
                if (kind == STRING) {
                    strings = new String[values.size()];
                    for (int i = 0; i < strings.length; i++) {
                        strings[i] = values.get(i).asText();
                    }
                } else if (kind == INTEGER) {
                    integers = new long[values.size()];
                    for (int i = 0; i < integers.length; i++) {
                        integers[i] = values.get(i).asLong();
                    }
                } else {
                    throw invalid(name + ": enum is supported on strings and integers only");
                }
            }
            this.stringEnum = strings;
            this.integerEnum = integers;
            this.items = kind == ARRAY ? new Rule(name + "[]", node.path("items")) : null;
        }

        String kindName() {
            return KIND_NAMES[kind];
        }

        private static int kindOf(String name, String type) {
            switch (type) {
                case "boolean":
                    return BOOLEAN;
                case "integer":
                    return INTEGER;
                case "number":
                    return NUMBER;
                case "string":
                    return STRING;
                case "array":
                    return ARRAY;
                default:
                    throw invalid(name + ": unknown type '" + type + "'");
            }
        }

        private static Pattern ecmaPattern(String text) {
            final boolean endAnchor = text.endsWith("$") && !text.endsWith("\\$");
            return Pattern.compile(endAnchor ? text.substring(0, text.length() - 1) + "\\z" : text);
        }
    }

    /** The option's text: two schemas with the same text check the same. */
    final String json;
    final String topic;
    final boolean additionalProperties;
    final Rule[] fields;
    final int[][] equalLength;
    /** Index of the event-time field in {@link #fields}, -1 when the topic has none. */
    final int eventTime;
    final long maxFutureMs;
    /** 0: no bound. */
    final long maxAgeMs;
    private final Map<String, Integer> positions = new HashMap<>();

    private Contract(String json, JsonNode root, long maxFutureMs, long maxAgeMs) {
        this.json = json;
        this.topic = root.path("topic").asText("?");
        this.additionalProperties = root.path("additionalProperties").asBoolean(true);
        final List<Rule> rules = new ArrayList<>();
        for (JsonNode field : root.path("fields")) {
            final Rule rule = new Rule(field.path("name").asText(), field);
            positions.put(rule.name, rules.size());
            rules.add(rule);
        }
        this.fields = rules.toArray(new Rule[0]);
        final JsonNode pairs = root.path("equalLength");
        this.equalLength = new int[pairs.size()][];
        for (int i = 0; i < equalLength.length; i++) {
            equalLength[i] =
                    new int[] {arrayField(pairs.get(i).get(0).asText()), arrayField(pairs.get(i).get(1).asText())};
        }
        final JsonNode time = root.path("eventTime");
        this.eventTime = time.isTextual() ? field(time.asText(), Rule.INTEGER) : -1;
        this.maxFutureMs = maxFutureMs;
        this.maxAgeMs = maxAgeMs;
    }

    /** Parses the {@code contract} option; a malformed one fails the DDL, naming the problem. */
    static Contract parse(String json, long maxFutureMs, long maxAgeMs) {
        try {
            return new Contract(json, new ObjectMapper().readTree(json), maxFutureMs, maxAgeMs);
        } catch (IOException e) {
            throw invalid("the contract option is not JSON: " + Rejection.shorten(e.getMessage()));
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Contract
                && json.equals(((Contract) o).json)
                && maxFutureMs == ((Contract) o).maxFutureMs
                && maxAgeMs == ((Contract) o).maxAgeMs;
    }

    @Override
    public int hashCode() {
        return json.hashCode();
    }

    /** The field's index, or -1 when the contract does not have it. */
    int position(String name) {
        final Integer pos = name == null ? null : positions.get(name);
        return pos == null ? -1 : pos;
    }

    private int field(String name, int kind) {
        final int pos = position(name);
        if (pos < 0 || fields[pos].kind != kind) {
            throw invalid("the contract names " + name + ", which is not one of its fields of that type");
        }
        return pos;
    }

    private int arrayField(String name) {
        return field(name, Rule.ARRAY);
    }

    /**
     * Every column of the table is a field of the contract with a type that holds it, or one of
     * the reject columns (STRING); the reject columns are all there (a rejected message whose
     * reason has no column would be lost).
     */
    void checkColumns(List<String> names, ColumnType[] types, String[] rejectColumns) {
        final List<String> reject = Arrays.asList(rejectColumns);
        for (String column : rejectColumns) {
            final int i = names.indexOf(column);
            if (i < 0 || types[i].kind != ColumnType.STRING) {
                throw invalid("the table needs a STRING column `" + column + "` for rejected messages");
            }
        }
        for (int i = 0; i < types.length; i++) {
            final String name = names.get(i);
            if (reject.contains(name)) {
                continue;
            }
            final int f = position(name);
            if (f < 0) {
                throw invalid("column `" + name + "` is not a field of " + topic);
            }
            if (!holds(types[i], fields[f])) {
                throw invalid("column `" + name + "` cannot hold " + fields[f].kindName() + " (" + topic + ")");
            }
        }
    }

    private static boolean holds(ColumnType column, Rule rule) {
        switch (rule.kind) {
            case Rule.INTEGER:
                return column.kind == ColumnType.BIGINT || column.kind == ColumnType.INT;
            case Rule.NUMBER:
                return column.kind == ColumnType.DOUBLE;
            case Rule.STRING:
                return column.kind == ColumnType.STRING;
            case Rule.BOOLEAN:
                return column.kind == ColumnType.BOOLEAN;
            default:
                return column.kind == ColumnType.ARRAY && holds(column.element, rule.items);
        }
    }

    static ValidationException invalid(String problem) {
        return new ValidationException("The '" + ObmJsonFormatFactory.IDENTIFIER + "' format's contract: " + problem);
    }
}
