// A Node client of the server, from proto/ loaded at run time by
// @grpc/proto-loader: creates a meter, records two events and one duplicate,
// and queries the total. Prints what the server answered as one JSON object.
// Usage: node call.js <address> <admin key> <meter name>
"use strict";
const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const loader = require("@grpc/proto-loader");

const [address, key, meter] = process.argv.slice(2);
const protoRoot = path.resolve(__dirname, "..", "..", "proto");
const definition = loader.loadSync(
  ["openspanner/v1/meter.proto", "openspanner/v1/usage.proto", "openspanner/v1/query.proto"],
  { includeDirs: [protoRoot], keepCase: true, enums: String, longs: Number, defaults: true },
);
const v1 = grpc.loadPackageDefinition(definition).openspanner.v1;
const credentials = grpc.credentials.createInsecure();
const metadata = new grpc.Metadata();
metadata.set("authorization", `Bearer ${key}`);

function call(client, method, request) {
  return new Promise((resolve, reject) =>
    client[method](request, metadata, (error, answer) => (error ? reject(error) : resolve(answer))),
  );
}

const seconds = (date) => ({ seconds: Math.floor(date.getTime() / 1000), nanos: 0 });

async function main() {
  const meters = new v1.MeterService(address, credentials);
  const usage = new v1.UsageService(address, credentials);
  const query = new v1.QueryService(address, credentials);
  const created = await call(meters, "CreateMeter", {
    name: meter, aggregation: "sum", unit: "requests", event_retention_days: 30,
  });
  const now = new Date();
  const event = (key, quantity) => ({
    idempotency_key: key, subject: "org_node", meter, quantity, timestamp: seconds(now),
  });
  const outcomes = [];
  for (const [key, quantity] of [["node-1", 2], ["node-2", 3], ["node-1", 2]]) {
    outcomes.push((await call(usage, "RecordUsage", event(key, quantity))).outcome);
  }
  const total = await call(query, "QueryUsage", {
    meter, start_time: seconds(new Date(now.getTime() - 3600e3)), end_time: seconds(new Date(now.getTime() + 3600e3)),
  });
  let refused;
  try {
    await call(usage, "RecordUsage", event("node-3", Number.NaN));
  } catch (error) {
    refused = { code: grpc.status[error.code], details: error.details };
  }
  console.log(JSON.stringify({ created: created.name, aggregation: created.aggregation, outcomes, rows: total.rows, refused }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
