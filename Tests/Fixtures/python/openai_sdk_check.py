"""The official OpenAI Python SDK against a Switchyard gateway, unmodified: a chat, a streamed
chat, embeddings, the model list, and the SDK's own exceptions for Switchyard's errors.

Environment: SWITCHYARD_BASE_URL (the gateway + /v1), SWITCHYARD_API_KEY, and
SWITCHYARD_LIMITED_KEY, a key allowed one request per minute. Prints one line per check; exits
non-zero on the first failure.
"""
import os
import sys

import openai
from openai import OpenAI

base_url = os.environ["SWITCHYARD_BASE_URL"]
client = OpenAI(base_url=base_url, api_key=os.environ["SWITCHYARD_API_KEY"], max_retries=0)
messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is Switchyard?"}]


def check(name, condition, detail=""):
    if not condition:
        print(f"FAILED {name}: {detail}")
        sys.exit(1)
    print(f"ok {name}")


completion = client.chat.completions.create(model="local-chat", messages=messages, max_tokens=12)
check("chat answers", completion.choices[0].message.content, completion)
check("chat usage", completion.usage.completion_tokens > 0 and completion.usage.prompt_tokens > 0, completion.usage)
check("chat finish reason", completion.choices[0].finish_reason in ("stop", "length"), completion.choices[0])

raw = client.chat.completions.with_raw_response.create(model="local-chat", messages=messages, max_tokens=4)
check("x-request-id", raw.headers.get("x-request-id", "").startswith("req_"), dict(raw.headers))

text, usage, chunks = "", None, 0
stream = client.chat.completions.create(
    model="local-chat", messages=messages, max_tokens=12, stream=True, stream_options={"include_usage": True})
for chunk in stream:
    chunks += 1
    if chunk.choices:
        text += chunk.choices[0].delta.content or ""
    if chunk.usage:
        usage = chunk.usage
check("stream text", text and chunks > 3, f"{chunks} chunks: {text!r}")
check("stream usage", usage is not None and usage.completion_tokens > 0, usage)

embeddings = client.embeddings.create(model="local-embedding", input=["gateways and routers", "ledgers"])
check("embeddings", len(embeddings.data) == 2 and len(embeddings.data[0].embedding) == 256,
      [len(item.embedding) for item in embeddings.data])
check("embeddings usage", embeddings.usage.prompt_tokens > 0, embeddings.usage)
floats = client.embeddings.create(model="local-embedding", input="ledgers", encoding_format="float")
check("embeddings as floats", floats.data[0].embedding == embeddings.data[1].embedding)

models = [model.id for model in client.models.list()]
check("models", "local-chat" in models and "local-embedding" in models, models)
check("one model", client.models.retrieve("local-chat").id == "local-chat")

try:
    client.chat.completions.create(model="no-such-model", messages=messages)
    check("unknown model raises NotFoundError", False)
except openai.NotFoundError as error:
    check("unknown model raises NotFoundError", error.code == "model_not_found", error.body)

try:
    OpenAI(base_url=base_url, api_key="sk-sy-not-a-real-key", max_retries=0).models.list()
    check("a wrong key raises AuthenticationError", False)
except openai.AuthenticationError as error:
    check("a wrong key raises AuthenticationError", error.status_code == 401, error.body)

try:
    client.chat.completions.create(model="local-chat", messages=[])
    check("bad input raises BadRequestError", False)
except openai.BadRequestError as error:
    check("bad input raises BadRequestError", error.body.get("param") == "messages", error.body)

limited = OpenAI(base_url=base_url, api_key=os.environ["SWITCHYARD_LIMITED_KEY"], max_retries=0)
limited.chat.completions.create(model="local-chat", messages=messages, max_tokens=2)
try:
    limited.chat.completions.create(model="local-chat", messages=messages, max_tokens=2)
    check("a limit raises RateLimitError", False)
except openai.RateLimitError as error:
    check("a limit raises RateLimitError", int(error.response.headers["retry-after"]) >= 1, dict(error.response.headers))
print("all checks passed")
