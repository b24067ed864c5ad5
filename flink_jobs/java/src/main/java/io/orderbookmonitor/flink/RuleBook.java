package io.orderbookmonitor.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The live rules of one TaskManager: one reader thread per rules source, shared by every task of
 * the rules job in the JVM, that follows the compacted {@code rules.changes} topic from its start
 * and swaps the {@link RuleSet} snapshot on each change (within a poll, ~100 ms, of the record).
 *
 * <p>Why not Flink broadcast state: the job is SQL, and a process table function takes several
 * tables only when they are co-partitioned (FLINK-37763), so a rule table cannot reach every
 * partition of the books. The compacted topic is the rules' durable copy instead: after a restart
 * the reader reads it again from the start, so nothing about the rules needs checkpointing.
 *
 * <p>Sources: {@code kafka|bootstrap servers|topic}, or a JSON array of rule records (fixed rules:
 * the bounded tests and the bench). The Kafka client is the Kafka connector's shaded one, which
 * every job ships beside this jar (pipeline.jars, the Flink image's lib), used only by
 * {@link RuleTopicReader}, so fixed rules need no Kafka classes.
 */
public final class RuleBook {
    private static final Logger LOG = LoggerFactory.getLogger(RuleBook.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, RuleBook> BOOKS = new HashMap<>();
    /** How long a task waits at start for the topic's existing rules before it evaluates. */
    private static final long LOAD_WAIT_MS = 60_000;

    private final String source;
    private final CountDownLatch loaded = new CountDownLatch(1);
    private volatile RuleSet current = RuleSet.EMPTY;
    private volatile boolean stopping;
    private Thread reader;
    private int users;

    private RuleBook(String source) {
        this.source = source;
    }

    /** The book of `source`, started on first use; each acquire is matched by a {@link #release}. */
    public static RuleBook acquire(String source) {
        final RuleBook book;
        synchronized (BOOKS) {
            book = BOOKS.computeIfAbsent(source, RuleBook::new);
            if (book.users++ == 0) {
                book.start();
            }
        }
        try {
            if (!book.loaded.await(LOAD_WAIT_MS, TimeUnit.MILLISECONDS)) {
                LOG.warn("rules from {} not loaded after {} ms; evaluating what has arrived", book.topicOf(), LOAD_WAIT_MS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return book;
    }

    public static void release(RuleBook book) {
        synchronized (BOOKS) {
            if (--book.users == 0) {
                BOOKS.remove(book.source);
                book.stopping = true;
                if (book.reader != null) {
                    book.reader.interrupt();
                }
            }
        }
    }

    public RuleSet current() {
        return current;
    }

    boolean stopping() {
        return stopping;
    }

    void publish(RuleSet rules) {
        current = rules;
    }

    /** The topic's rules up to its end at start are in: tasks may evaluate. */
    void markLoaded() {
        loaded.countDown();
    }

    boolean isLoaded() {
        return loaded.getCount() == 0;
    }

    private void start() {
        stopping = false;
        if (!source.startsWith("kafka|")) {
            try {
                current = RuleSet.fromRecords(JSON.readTree(source));
            } catch (Exception e) {
                throw new IllegalArgumentException("rules: neither kafka|servers|topic nor a JSON array of rules", e);
            }
            loaded.countDown();
            return;
        }
        reader = new Thread(this::follow, "obm-rules-" + topicOf());
        reader.setDaemon(true);
        reader.start();
    }

    private String topicOf() {
        final String[] parts = source.split("\\|", 3);
        return parts.length == 3 ? parts[2] : "(fixed)";
    }

    /** The reader thread: follows the topic until released, reconnecting after an error. */
    private void follow() {
        final String[] parts = source.split("\\|", 3);
        final Map<Long, RuleSpec> live = new TreeMap<>();
        while (!stopping) {
            try {
                new RuleTopicReader(parts[1], parts[2], this).read(live);
            } catch (Exception e) {
                if (stopping) {
                    return;
                }
                LOG.warn("reading rules from {} failed; retrying in 1 s", parts[2], e);
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

}
