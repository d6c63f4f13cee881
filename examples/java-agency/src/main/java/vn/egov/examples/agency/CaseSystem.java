package vn.egov.examples.agency;

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.time.format.ResolverStyle;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * A department's case system, as a vendor would build one against the province's contracts: it takes the
 * dossiers the LGSP delivers to its agency ({@code DossierAssigned} on {@code egov.lgsp.agency-deliveries.v1})
 * and approves each at once ({@code AgencyDecisionMade} on {@code egov.agency.case-events.v1}, keyed by the
 * dossier code, with the CloudEvents headers of the binary mode and {@code ce_source /egov/agency}).
 *
 * <p>What a real system decides is its officials' business; what this one shows is how to meet the rules the
 * conformance kit checks: only its agency's dossiers, each decided once, an event delivered twice (the same
 * {@code ce_id}) handled once, records that are not valid CloudEvents of a released contract passed over (and
 * said so) without stopping, business time from {@code EGOV_CLOCK_SPEED} and {@code EGOV_CLOCK_ANCHOR}.
 * Offsets are committed after the answers are acknowledged (at least once). It keeps its memory (events
 * handled, dossiers decided) in memory: a real system keeps it in its database, with its case files.
 *
 * <pre>
 * java -cp 'target/java-agency-1.jar:target/lib/*' vn.egov.examples.agency.CaseSystem \
 *      --config vendor-agency.properties --contracts ../../contracts --agency-code 000.00.04.H11
 * </pre>
 *
 * <p>{@code --config} is what {@code egov kafka client-config --principal vendor-agency} prints (bootstrap
 * servers, SASL/SCRAM); {@code EGOV_TOPIC_PREFIX} is put before every topic and group name, as in the stack.
 */
public final class CaseSystem {
  static final String ASSIGNED = "vn.egov.dossier.DossierAssigned";
  static final String DECISION = "vn.egov.dossier.AgencyDecisionMade";
  static final String SOURCE = "/egov/agency";
  static final String DELIVERIES = "egov.lgsp.agency-deliveries.v1";
  static final String CASE_EVENTS = "egov.agency.case-events.v1";

  /** Thông tư 03/2025/TT-VPCP Art. 13: {@code <agency code>-<YYMMDD>-<sequence of at least 4 digits>}. */
  static final Pattern DOSSIER_CODE = Pattern.compile("^([0-9A-Z.]+)-(\\d{6})-(\\d{4,})$");
  /** QCVN 102:2016 ({@code 000.00.04.H11}) or QĐ 20/2020/QĐ-TTg ({@code H15.50.05.13}), at most 35 characters. */
  static final Pattern AGENCY_CODE =
      Pattern.compile("^(?:\\d{3}\\.\\d{2}\\.\\d{2}\\.[A-Z]\\d{2}|[A-Y]\\d{2}(?:\\.[0-9A-Z]+)*)$");

  private final Contracts contracts;
  private final BinaryMessageDecoder<GenericRecord> assignments;
  private final BusinessClock clock;
  private final String agencyCode;
  private final String prefix;
  /** {@code ce_source} and {@code ce_id} of every event handled: the idempotency memory. */
  private final Set<String> handled = new HashSet<>();
  /** Dossier codes decided: a dossier is decided once. */
  private final Set<String> decided = new HashSet<>();

  CaseSystem(Contracts contracts, BusinessClock clock, String agencyCode, String prefix) {
    this.contracts = contracts;
    this.assignments = contracts.decoder(ASSIGNED);
    this.clock = clock;
    this.agencyCode = agencyCode;
    this.prefix = prefix;
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> options = options(args);
    Properties connection = new Properties();
    try (InputStream in = new FileInputStream(options.get("--config"))) {
      connection.load(in);
    }
    String prefix = System.getenv().getOrDefault("EGOV_TOPIC_PREFIX", "");
    String agency = options.get("--agency-code");
    if (agency == null || !AGENCY_CODE.matcher(agency).matches()) {
      throw new IllegalArgumentException("--agency-code must be an agency code, e.g. 000.00.04.H11");
    }
    CaseSystem system =
        new CaseSystem(
            Contracts.load(Path.of(options.getOrDefault("--contracts", "contracts"))),
            BusinessClock.fromEnvironment(),
            agency,
            prefix);
    String group = options.getOrDefault("--group", prefix + "vendor-agency-case-system");
    system.run(connection, group);
  }

  private static Map<String, String> options(String[] args) {
    Map<String, String> options = new HashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      options.put(args[i], args[i + 1]);
    }
    if (!options.containsKey("--config")) {
      throw new IllegalArgumentException(
          "usage: CaseSystem --config CLIENT.properties --agency-code CODE [--contracts DIR] [--group ID]");
    }
    return options;
  }

  void run(Properties connection, String group) throws IOException {
    Properties consumerConfig = new Properties();
    consumerConfig.putAll(connection);
    consumerConfig.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    consumerConfig.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    consumerConfig.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    Properties producerConfig = new Properties();
    producerConfig.putAll(connection);
    producerConfig.put(ProducerConfig.ACKS_CONFIG, "all");
    try (KafkaConsumer<String, byte[]> consumer =
            new KafkaConsumer<>(consumerConfig, new StringDeserializer(), new ByteArrayDeserializer());
        KafkaProducer<String, byte[]> producer =
            new KafkaProducer<>(producerConfig, new StringSerializer(), new ByteArraySerializer())) {
      Runtime.getRuntime().addShutdownHook(new Thread(consumer::wakeup));
      consumer.subscribe(
          List.of(prefix + DELIVERIES),
          new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
              if (!partitions.isEmpty()) {
                System.out.println("ready: partitions " + partitions);
              }
            }

            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {}
          });
      try {
        while (true) {
          for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(500))) {
            ProducerRecord<String, byte[]> answer = handle(record);
            if (answer != null) {
              producer.send(answer).get(); // acknowledged before the offset is committed
            }
          }
          consumer.commitSync();
        }
      } catch (org.apache.kafka.common.errors.WakeupException stopping) {
        System.out.println("stopped");
      } catch (InterruptedException | java.util.concurrent.ExecutionException e) {
        throw new IOException("the broker did not acknowledge a decision", e);
      }
    }
  }

  /** The answer to one delivered record, or null when there is none to give. */
  ProducerRecord<String, byte[]> handle(ConsumerRecord<String, byte[]> record) throws IOException {
    Map<String, String> ce = headers(record.headers());
    String where = record.topic() + "[" + record.partition() + "]@" + record.offset();
    for (String required : List.of("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time")) {
      if (!ce.containsKey(required)) {
        return refuse(where, "no " + required + " header: not a CloudEvent");
      }
    }
    if (!"1.0".equals(ce.get("ce_specversion")) || !ASSIGNED.equals(ce.get("ce_type"))) {
      return refuse(where, "not a CloudEvents 1.0 " + ASSIGNED + ": " + ce.get("ce_type"));
    }
    if (handled.contains(ce.get("ce_source") + " " + ce.get("ce_id"))) {
      return null; // delivered again: handled once already
    }
    GenericRecord assignment;
    try {
      assignment = assignments.decode(record.value());
    } catch (AvroRuntimeException | IOException e) { // bad bytes, an unknown fingerprint, a broken body
      return refuse(where, "undecodable: " + e);
    }
    String code = String.valueOf(assignment.get("dossier_code"));
    GenericRecord agency = (GenericRecord) assignment.get("agency");
    String problem = problems(code, String.valueOf(agency.get("code")), record.key());
    if (problem != null) {
      return refuse(where, problem);
    }
    handled.add(ce.get("ce_source") + " " + ce.get("ce_id"));
    if (!agencyCode.equals(String.valueOf(agency.get("code")))) {
      return null; // another agency's dossier: its own system's
    }
    if (!decided.add(code)) {
      System.out.println(code + ": decided already, nothing more to do");
      return null;
    }
    return decision(assignment, agency, ce);
  }

  private static String problems(String code, String agency, String key) {
    Matcher matcher = DOSSIER_CODE.matcher(code);
    if (!matcher.matches()) {
      return "dossier_code " + code + " is not of the form of Thông tư 03/2025/TT-VPCP Art. 13";
    }
    try {
      LocalDate.parse(
          matcher.group(2), DateTimeFormatter.ofPattern("uuMMdd").withResolverStyle(ResolverStyle.STRICT));
    } catch (DateTimeParseException e) {
      return "dossier_code " + code + " has no real date";
    }
    if (!AGENCY_CODE.matcher(matcher.group(1)).matches() || !AGENCY_CODE.matcher(agency).matches()) {
      return "agency code of no QCVN 102:2016 or QĐ 20/2020/QĐ-TTg form in " + code + " or " + agency;
    }
    if (!code.equals(key)) {
      return "keyed " + key + ", but the body is dossier " + code;
    }
    return null;
  }

  private ProducerRecord<String, byte[]> refuse(String where, String why) {
    System.out.println("passed over " + where + ": " + why);
    return null;
  }

  private ProducerRecord<String, byte[]> decision(
      GenericRecord assignment, GenericRecord agency, Map<String, String> cause) throws IOException {
    Schema schema = contracts.schema(DECISION);
    Instant now = clock.now().truncatedTo(ChronoUnit.MILLIS);
    String code = String.valueOf(assignment.get("dossier_code"));
    GenericRecord agencyRef = new GenericData.Record(schema.getField("agency").schema());
    agencyRef.put("code", String.valueOf(agency.get("code")));
    agencyRef.put("name", String.valueOf(agency.get("name")));
    GenericRecord official = new GenericData.Record(schema.getField("decided_by").schema());
    official.put("official_id", agencyCode + "/giam-doc");
    official.put("full_name", "Phạm Thị Lan");
    official.put("position", "Giám đốc");
    official.put("agency", agencyRef);
    GenericRecord decision = new GenericData.Record(schema);
    decision.put("dossier_code", code);
    decision.put("agency", agencyRef);
    decision.put("decision", new GenericData.EnumSymbol(schema.getField("decision").schema(), "APPROVED"));
    decision.put("reason", null);
    decision.put("document_id", null);
    decision.put("decided_by", official);
    decision.put("decided_at", now.toEpochMilli()); // timestamp-millis
    // the same cause gives the same id, so a retry after a crash is deduplicated by its readers
    String id = UUID.nameUUIDFromBytes((cause.get("ce_id") + "/decision").getBytes(StandardCharsets.UTF_8)).toString();
    Headers headers = new RecordHeaders();
    header(headers, "ce_specversion", "1.0");
    header(headers, "ce_id", id);
    header(headers, "ce_source", SOURCE);
    header(headers, "ce_type", DECISION);
    header(headers, "ce_time", DateTimeFormatter.ISO_INSTANT.format(now));
    header(headers, "ce_subject", code);
    header(headers, "content-type", "application/avro");
    header(headers, "traceparent", traceparent(cause.get("traceparent")));
    header(headers, "egov_writer", "agency");
    System.out.println(code + ": APPROVED");
    return new ProducerRecord<>(prefix + CASE_EVENTS, null, code, contracts.encode(DECISION, decision), headers);
  }

  /** W3C trace context: the cause's trace, a new span. */
  private static String traceparent(String cause) {
    String trace =
        cause != null && cause.matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
            ? cause.substring(3, 35)
            : hex(16);
    return "00-" + trace + "-" + hex(8) + "-01";
  }

  private static String hex(int bytes) {
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < bytes; i++) {
      out.append(String.format("%02x", ThreadLocalRandom.current().nextInt(256)));
    }
    return out.toString();
  }

  private static void header(Headers headers, String name, String value) {
    headers.add(name, value.getBytes(StandardCharsets.UTF_8));
  }

  private static Map<String, String> headers(Headers headers) {
    Map<String, String> out = new HashMap<>();
    List<Header> all = new ArrayList<>();
    headers.forEach(all::add);
    for (Header header : all) { // the last value where a header repeats
      if (header.value() != null) {
        out.put(header.key(), new String(header.value(), StandardCharsets.UTF_8));
      }
    }
    return out;
  }
}
