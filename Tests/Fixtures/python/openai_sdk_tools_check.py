"""Function calling with the official OpenAI Python SDK through a Switchyard gateway, unmodified:
the model `remote-tools` (an OpenAI-compatible fake that always calls get_weather for Hamburg)
answers a tool call whole and as a stream the SDK reassembles; the tool's result goes back.

Environment: SWITCHYARD_BASE_URL (the gateway + /v1), SWITCHYARD_API_KEY. Prints one line per
check; exits non-zero on the first failure.
"""
import json
import os
import sys

from openai import OpenAI

client = OpenAI(base_url=os.environ["SWITCHYARD_BASE_URL"], api_key=os.environ["SWITCHYARD_API_KEY"], max_retries=0)
tools = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city now.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}]
messages = [{"role": "user", "content": "What is the weather in Hamburg?"}]


def check(name, condition, detail=""):
    if not condition:
        print(f"FAILED {name}: {detail}")
        sys.exit(1)
    print(f"ok {name}")


completion = client.chat.completions.create(model="remote-tools", messages=messages, tools=tools, tool_choice="auto")
choice = completion.choices[0]
check("finish reason", choice.finish_reason == "tool_calls", choice)
call = choice.message.tool_calls[0]
check("tool call", call.id == "call_7" and call.type == "function" and call.function.name == "get_weather", call)
check("arguments", json.loads(call.function.arguments) == {"city": "Hamburg"}, call.function.arguments)

# Streamed: the SDK's chunks carry the call's deltas; the arguments arrive in fragments.
name, arguments, finish = "", "", None
for chunk in client.chat.completions.create(model="remote-tools", messages=messages, tools=tools, stream=True):
    if not chunk.choices:
        continue
    for delta in chunk.choices[0].delta.tool_calls or []:
        name += (delta.function.name or "") if delta.function else ""
        arguments += (delta.function.arguments or "") if delta.function else ""
    finish = chunk.choices[0].finish_reason or finish
check("streamed tool call", name == "get_weather" and json.loads(arguments) == {"city": "Hamburg"}, (name, arguments))
check("streamed finish reason", finish == "tool_calls", finish)

# The tool's answer goes back as a tool message in the next turn.
follow_up = messages + [choice.message.model_dump(exclude_none=True),
                        {"role": "tool", "tool_call_id": call.id, "content": "12 °C and windy"}]
again = client.chat.completions.create(model="remote-tools", messages=follow_up, tools=tools)
check("a turn with a tool result is accepted", again.choices[0].finish_reason == "tool_calls", again)

print("all checks passed")
