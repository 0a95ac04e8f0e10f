package io.kappa.example;

import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

/**
 * A container processor for kappa-operator: counts the events of each key of the source topic
 * and writes {"key": K, "events": N} to the output topic, keyed by K.
 *
 * <p>What makes it fit for a blue-green replay, as every container processor must:
 *
 * <ul>
 *   <li>it reads KAPPA_BOOTSTRAP_SERVERS, KAPPA_SOURCE_TOPIC and KAPPA_OUTPUT_TOPIC;
 *   <li>its consumer group is KAPPA_CONSUMER_GROUP (a Kafka Streams application.id is its group
 *       id), whose committed offsets on the source are the lag the operator gates on;
 *   <li>it starts from the earliest offset when the group has no commit (KAPPA_START_OFFSET);
 *   <li>its output is exactly-once (processing.guarantee exactly_once_v2): the operator and the
 *       comparison read outputs read_committed;
 *   <li>it passes KAPPA_KAFKA_PROPERTY_* (the keys of spec.kafka.credentialsSecret) to its
 *       clients, and keeps its state under /tmp, which the operator mounts writable.
 * </ul>
 */
public final class EventCounts {
  private EventCounts() {}

  static String require(Map<String, String> env, String name) {
    String v = env.get(name);
    if (v == null || v.isEmpty()) {
      System.err.println("event-counts: " + name + " is not set (the operator sets every KAPPA_*)");
      System.exit(2);
    }
    return v;
  }

  static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') b.append('\\').append(c);
      else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
      else b.append(c);
    }
    return b.append('"').toString();
  }

  public static void main(String[] args) throws InterruptedException {
    Map<String, String> env = System.getenv();
    String source = require(env, "KAPPA_SOURCE_TOPIC");
    String output = require(env, "KAPPA_OUTPUT_TOPIC");

    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, require(env, "KAPPA_CONSUMER_GROUP"));
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, require(env, "KAPPA_BOOTSTRAP_SERVERS"));
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 1000);
    props.put(StreamsConfig.STATE_DIR_CONFIG, "/tmp/kafka-streams");
    props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 10L * 1024 * 1024);
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG),
        env.getOrDefault("KAPPA_START_OFFSET", "earliest"));
    String replica = env.get("KAPPA_REPLICA_ID");
    if (replica != null && !replica.isEmpty()) props.put(StreamsConfig.CLIENT_ID_CONFIG, replica);
    String prefix = "KAPPA_KAFKA_PROPERTY_";
    for (Map.Entry<String, String> e : env.entrySet()) {
      if (e.getKey().startsWith(prefix)) props.put(e.getKey().substring(prefix.length()), e.getValue());
    }

    StreamsBuilder builder = new StreamsBuilder();
    builder.stream(source, Consumed.with(Serdes.String(), Serdes.String()))
        .filter((key, value) -> key != null)
        .groupByKey()
        .count(Materialized.as("event-counts"))
        .toStream()
        .mapValues((key, count) -> "{\"key\":" + quote(key) + ",\"events\":" + count + "}")
        .to(output, Produced.with(Serdes.String(), Serdes.String()));

    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    CountDownLatch done = new CountDownLatch(1);
    streams.setStateListener((now, before) -> {
      System.out.println("event-counts: " + before + " -> " + now);
      if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) done.countDown();
    });
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close(Duration.ofSeconds(20));
      done.countDown();
    }));
    System.out.println("event-counts: " + source + " -> " + output + " as " + props.get(StreamsConfig.APPLICATION_ID_CONFIG));
    streams.start();
    done.await();
    // A fatal error exits non-zero: the kubelet restarts the container.
    System.exit(streams.state() == KafkaStreams.State.ERROR ? 1 : 0);
  }
}
