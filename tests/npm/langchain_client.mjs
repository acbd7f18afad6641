// LibreChat's client stack against an OpenAI-compatible server: `@langchain/openai`'s ChatOpenAI, the versions
// `@librechat/agents` pins (tests/npm/package.json). Used by tests/integration/clients/test_langchain_client.py and to
// record the requests LangChain sends (tests/fixtures/clients/README.md).
//
//   node tests/npm/langchain_client.mjs <scenario> --base-url http://127.0.0.1:8080/v1 --model echo-agent --prompt "…"
//
// Scenarios: `invoke` (non-streaming), `stream` (streaming, chunks concatenated the way LangChain agents do),
// `tools-invoke` / `tools-stream` (the same with a client tool bound with `bindTools`; when the model calls it, the
// script answers with a ToolMessage and asks again, like an agent loop would).
// Prints one JSON object on stdout: per request, the assembled message's class, content and tool calls, and for
// streams the class of every chunk (LangChain turns a delta without a known role into a generic ChatMessageChunk).
import { ChatOpenAI } from "@langchain/openai";
import { HumanMessage, ToolMessage } from "@langchain/core/messages";

const WEATHER_TOOL = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The current weather in a city.",
    parameters: {
      type: "object",
      properties: { city: { type: "string", description: "The city" } },
      required: ["city"],
      additionalProperties: false,
    },
  },
};
export const WEATHER_RESULT = "Sunny, 21 degrees";

function parseArgs(argv) {
  const [scenario, ...rest] = argv;
  const options = { scenario };
  for (let i = 0; i < rest.length; i += 2) {
    options[rest[i].replace(/^--/, "").replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = rest[i + 1];
  }
  return options;
}

function describe(message, chunkClasses) {
  return {
    class: message?.constructor?.name ?? null,
    content: typeof message?.content === "string" ? message.content : JSON.stringify(message?.content ?? null),
    tool_calls: (message?.tool_calls ?? []).map((call) => ({ id: call.id, name: call.name, args: call.args })),
    invalid_tool_calls: message?.invalid_tool_calls ?? [],
    ...(chunkClasses ? { chunk_classes: chunkClasses } : {}),
  };
}

async function ask(model, messages, streaming) {
  if (!streaming) {
    const message = await model.invoke(messages);
    return { message, result: describe(message) };
  }
  let full;
  const chunkClasses = [];
  for await (const chunk of await model.stream(messages)) {
    chunkClasses.push(chunk.constructor.name);
    full = full === undefined ? chunk : full.concat(chunk);
  }
  return { message: full, result: describe(full, chunkClasses) };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const streaming = options.scenario.endsWith("stream");
  const withTools = options.scenario.startsWith("tools-");
  if (!["invoke", "stream", "tools-invoke", "tools-stream"].includes(options.scenario)) {
    throw new Error(`unknown scenario ${options.scenario}`);
  }
  let model = new ChatOpenAI({
    model: options.model,
    apiKey: options.apiKey ?? "unused",
    configuration: { baseURL: options.baseUrl },
    streaming,
    maxRetries: 0,
    timeout: 60_000,
  });
  if (withTools) model = model.bindTools([WEATHER_TOOL]);
  const messages = [new HumanMessage(options.prompt)];
  const requests = [];
  const first = await ask(model, messages, streaming);
  requests.push(first.result);
  const calls = first.message?.tool_calls ?? [];
  if (withTools && calls.length > 0) {
    messages.push(first.message);
    for (const call of calls) {
      messages.push(new ToolMessage({ tool_call_id: call.id, content: WEATHER_RESULT }));
    }
    const second = await ask(model, messages, streaming);
    requests.push(second.result);
  }
  process.stdout.write(JSON.stringify({ scenario: options.scenario, requests }) + "\n");
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ error: String(error?.message ?? error), status: error?.status ?? null }) + "\n");
  process.exit(1);
});
