package io.orderbookmonitor.flink.format;

import java.io.OutputStream;
import java.util.Arrays;

/**
 * A growable byte buffer the JSON generator writes into, reset per record.
 *
 * <p>Why not {@code ByteArrayOutputStream}: its methods are synchronized, and a record's bytes are
 * copied out once anyway (Kafka keeps the array we return), so one plain array that keeps its size
 * across records is all the encoder needs.
 */
final class ReusableOutputBuffer extends OutputStream {

    private byte[] bytes = new byte[1024];
    private int size;

    void reset() {
        size = 0;
    }

    byte[] toByteArray() {
        return Arrays.copyOf(bytes, size);
    }

    private void ensure(int more) {
        if (size + more > bytes.length) {
            bytes = Arrays.copyOf(bytes, Math.max(bytes.length * 2, size + more));
        }
    }

    @Override
    public void write(int b) {
        ensure(1);
        bytes[size++] = (byte) b;
    }

    @Override
    public void write(byte[] b, int off, int len) {
        ensure(len);
        System.arraycopy(b, off, bytes, size, len);
        size += len;
    }
}
