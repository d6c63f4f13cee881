package vn.egov.examples.agency;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.message.SchemaStore;

/**
 * The province's event contracts, read from the contracts folder of the repository: every named type of
 * {@code schemas/} (events reference shared types such as {@code vn.egov.common.AgencyRef} by name), and every
 * released version of {@code released/}, so that data written with an older version still decodes.
 *
 * <p>Values on the wire are Avro single-object encoding: {@code C3 01}, the 8-byte CRC-64-AVRO fingerprint of
 * the writer's schema, then the binary body. Avro's {@link BinaryMessageEncoder} and {@link
 * BinaryMessageDecoder} implement exactly that; the decoder finds the writer's schema by fingerprint in a
 * {@link SchemaStore}.
 */
final class Contracts {
  private final Map<String, Schema> current;
  private final SchemaStore.Cache released = new SchemaStore.Cache();

  private Contracts(Map<String, Schema> current) {
    this.current = current;
  }

  /** Every schema of {@code contracts/schemas} and {@code contracts/released}. */
  static Contracts load(Path contracts) throws IOException {
    Contracts loaded = new Contracts(parseAll(contracts.resolve("schemas")));
    try (Stream<Path> files = Files.walk(contracts.resolve("released"))) {
      for (Path file : files.filter(p -> p.toString().endsWith(".avsc")).sorted().toList()) {
        loaded.released.addSchema(new Schema.Parser().parse(file.toFile())); // each one stands alone
      }
    }
    for (Schema schema : loaded.current.values()) {
      loaded.released.addSchema(schema);
    }
    return loaded;
  }

  /**
   * The files reference each other's named types: parse whatever resolves with the types known so far, until
   * nothing is left (a fresh parser per attempt, so a failed attempt leaves nothing half-registered).
   */
  private static Map<String, Schema> parseAll(Path schemas) throws IOException {
    List<File> pending;
    try (Stream<Path> files = Files.walk(schemas)) {
      pending = files.filter(p -> p.toString().endsWith(".avsc")).sorted().map(Path::toFile).toList();
    }
    Map<String, Schema> known = new HashMap<>();
    while (!pending.isEmpty()) {
      List<File> unresolved = new ArrayList<>();
      String lastError = "";
      for (File file : pending) {
        Schema.Parser parser = new Schema.Parser();
        parser.addTypes(known.values());
        try {
          Schema schema = parser.parse(file);
          known.putAll(parser.getTypes());
          known.put(schema.getFullName(), schema);
        } catch (AvroRuntimeException e) { // Avro 1.12: AvroTypeException "Undefined schema", or a parse error
          unresolved.add(file);
          lastError = file.getName() + ": " + e.getMessage();
        }
      }
      if (unresolved.size() == pending.size()) {
        throw new IOException("contracts reference types that no file defines: " + lastError);
      }
      pending = unresolved;
    }
    return known;
  }

  Schema schema(String fullName) {
    Schema schema = current.get(fullName);
    if (schema == null) {
      throw new IllegalArgumentException("no contract named " + fullName);
    }
    return schema;
  }

  /** A decoder of single-object-encoded data of any released version, read as the current schema. */
  BinaryMessageDecoder<GenericRecord> decoder(String fullName) {
    return new BinaryMessageDecoder<>(GenericData.get(), schema(fullName), released);
  }

  /** The single-object encoding of a record of the current schema. */
  byte[] encode(String fullName, GenericRecord record) throws IOException {
    ByteBuffer buffer = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), schema(fullName)).encode(record);
    byte[] bytes = new byte[buffer.remaining()];
    buffer.get(bytes);
    return bytes;
  }
}
