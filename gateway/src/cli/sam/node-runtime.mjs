// A Lambda runtime for Node.js handlers, as the node runs them (`Runtime: nodejs*`): the
// Lambda Runtime API's client loop. Usage: node node-runtime.mjs FILE.HANDLER (or _HANDLER).
// The handler module is FILE.mjs, FILE.js or FILE.cjs in LAMBDA_TASK_ROOT (the working
// folder); `exports.handler = async (event, context) => …` and ESM `export const handler`
// both work, and so do callback handlers `(event, context, callback)`.
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import http from "node:http";

const api = process.env.AWS_LAMBDA_RUNTIME_API;
const base = `/2018-06-01/runtime`;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function call(method, route, body, headers = {}) {
  const [host, port] = api.split(":");
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host, port, method, path: base + route, agent, headers: { ...headers } },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) }),
        );
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    if (body !== undefined) {
      request.setHeader("content-type", "application/json");
      request.end(body);
    } else {
      request.end();
    }
  });
}

function errorBody(error) {
  const err = error instanceof Error ? error : new Error(String(error));
  return JSON.stringify({
    errorType: err.name || "Error",
    errorMessage: err.message,
    trace: (err.stack || "").split("\n"),
  });
}

async function loadHandler(spec) {
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const dot = spec.lastIndexOf(".");
  if (dot < 1) throw Object.assign(new Error(`Bad handler ${spec}`), { name: "Runtime.MalformedHandlerName" });
  const [file, name] = [spec.slice(0, dot), spec.slice(dot + 1)];
  const found = [".mjs", ".js", ".cjs"].map((ext) => path.join(root, file + ext)).find(existsSync);
  if (!found) throw Object.assign(new Error(`Cannot find module '${file}'`), { name: "Runtime.ImportModuleError" });
  let module;
  try {
    module = await import(pathToFileURL(found).href);
  } catch (error) {
    throw Object.assign(error instanceof Error ? error : new Error(String(error)), { name: "Runtime.ImportModuleError" });
  }
  const handler = module[name] ?? module.default?.[name];
  if (typeof handler !== "function") {
    throw Object.assign(new Error(`${spec} is undefined or not exported`), { name: "Runtime.HandlerNotFound" });
  }
  return handler;
}

function invoke(handler, event, context) {
  if (handler.length >= 3) {
    return new Promise((resolve, reject) => {
      const result = handler(event, context, (error, value) => (error ? reject(error) : resolve(value)));
      if (result && typeof result.then === "function") result.then(resolve, reject);
    });
  }
  return Promise.resolve().then(() => handler(event, context));
}

let handler;
try {
  handler = await loadHandler(process.argv[2] || process.env._HANDLER || "");
} catch (error) {
  await call("POST", "/init/error", errorBody(error), { "lambda-runtime-function-error-type": error.name });
  process.exit(1);
}

for (;;) {
  const next = await call("GET", "/invocation/next");
  if (next.status !== 200) process.exit(1);
  const id = next.headers["lambda-runtime-aws-request-id"];
  const deadline = Number(next.headers["lambda-runtime-deadline-ms"]);
  const context = {
    awsRequestId: id,
    invokedFunctionArn: next.headers["lambda-runtime-invoked-function-arn"],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  process.env._X_AMZN_TRACE_ID = next.headers["lambda-runtime-trace-id"] || "";
  try {
    const event = JSON.parse(next.body.toString("utf8"));
    const result = await invoke(handler, event, context);
    await call("POST", `/invocation/${id}/response`, JSON.stringify(result === undefined ? null : result));
  } catch (error) {
    console.error(error);
    await call("POST", `/invocation/${id}/error`, errorBody(error), { "lambda-runtime-function-error-type": "Unhandled" });
  }
}
