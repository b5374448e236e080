"""Answers real models wrote, collected from their public repositories, model cards and documentation, as
test fixtures. Each says where it came from; `constructed` marks the few written here in a format a model's
own prompt or agent code documents, where no published answer was found."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    text: str
    source: str
    constructed: bool = False


# ---- UI-TARS --------------------------------------------------------------------------------------

UITARS_README = Answer("Thought: Click the button\nAction: click(start_box='(100,200)')",
                       "bytedance/UI-TARS README.md, parse_action_to_structure_output example")
UITARS_COORDINATES = Answer("Thought: xxx\nAction: click(start_box='(197,525)')",
                            "bytedance/UI-TARS README_coordinates.md, 'Assume model output'")
UITARS_POINT = Answer("Thought: Click the button\nAction: click(point='<point>200 300</point>')",
                      "bytedance/UI-TARS codes/README.md (the ui-tars package's doubao example)")
UITARS_1_0_BOX = Answer("Action: click(start_box='<|box_start|>(495,30)<|box_end|>')",
                        "bytedance/UI-TARS data/training_example.json, an assistant turn (UI-TARS 1.0, 0..1000)")
UITARS_THINK = Answer(
    "<think>\nOkay, let's see. The user wants to search news, but the current search bar has \"hi\" in it. "
    "First, I need to clear that. The search bar has an 'X' button on the right, so clicking that will remove "
    "the existing text.\n</think>\nThought: To search for news, first clear the existing text \"hi\" from the "
    "Google search bar by clicking the 'X' icon. Then, type \"news\" into the search bar and press Enter to "
    "perform the search. This will display news-related results.\nAction: click(point='<point>510 150</point>')",
    "bytedance/UI-TARS-desktop packages/ui-tars/action-parser/test/actionParser.test.ts ('new format input', "
    "think block shortened)")
UITARS_BBOX_ZH = Answer(
    "Thought: 我看到当前屏幕显示的是一个电子表格软件和一个聊天窗口，而任务要求我需要在浏览器中搜索北京明天天气。"
    "我需要先点击任务栏上的浏览器图标来启动浏览器。\nAction: click(start_box='<bbox>637 964 637 964</bbox>')",
    "bytedance/UI-TARS-desktop packages/ui-tars/action-parser/test/actionParser.test.ts ('bc mode but hallucination')")
UITARS_FULLWIDTH_COLON = Answer("\n\nAction：click(start_box='<bbox>191 21 191 21</bbox>')",
                                "bytedance/UI-TARS-desktop action-parser test ('Chinese colon in the middle')")
UITARS_O1 = Answer("<Thought>I need to perform this action</Thought>\nAction_Summary: Click and type text\n"
                   "Action: click(start_box='(100,200)')\n</Output>",
                   "bytedance/UI-TARS-desktop action-parser test ('O1 format input')")
UITARS_TWO_CORNERS = Answer(
    "Thought: Click open\nAction: click(start_box='<|box_start|>(1290,718)<|box_end|>(1350,747)<|box_end|>')",
    "bytedance/UI-TARS-desktop action-parser test ('box marker coordinates')")
UITARS_BOX_LIST = Answer("Thought: I need to click on this element\nAction: click(start_box='[348, 333, 928, 365]')",
                         "bytedance/UI-TARS-desktop action-parser test ('four coordinates using custom factors')")
UITARS_TYPE_AT_BOX = Answer("Reflection: This is a reflection\nAction_Summary: This is a summary\n"
                            "Action: type(text='Hello', start_box='(300,400)')",
                            "bytedance/UI-TARS-desktop action-parser test ('Reflection and Action_Summary')")
UITARS_SEVERAL = Answer("Thought: Open Start menu first.\nAction: hotkey(key='ctrl esc')Thought: Type Cursor in "
                        "search.\nAction: type(content='Cursor\\n')Thought: Wait for window.\nAction: wait()Thought: "
                        "Finish if opened.\nAction: finished()",
                        "bytedance/UI-TARS-desktop action-parser test ('final explicit Action marker')")

# ---- Qwen computer_use ----------------------------------------------------------------------------

QWEN3_MOBILE = Answer(
    'Thought: To search for Musk in X, I need to click on the search bar at the top of the screen. This will '
    'allow me to type in the search query.\nAction: "I tapped on the search bar to begin searching for Musk."\n'
    '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [447, 81]}}\n</tool_call>\n',
    "QwenLM/Qwen3-VL cookbooks/mobile_agent.ipynb, cell output (Qwen3-VL)")
QWEN25_MOBILE = Answer(
    '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [639, 1095]}}\n</tool_call>\n',
    "QwenLM/Qwen2.5-VL cookbooks/mobile_agent.ipynb, cell output (Qwen2.5-VL)")
GUI_PLUS_CLICK = Answer(
    '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [2530, 314]}}\n'
    '</tool_call>',
    "Alibaba Cloud Model Studio GUI-Plus documentation, the 'OpenAI 兼容返回结果' response of model gui-plus to "
    "'帮我打开浏览器' on a 3008x1758 screenshot (answered in pixels of that screenshot)")
GUI_PLUS_SCREEN = (3008, 1758)
QWEN3_COMPUTER = Answer(
    'Action: Click the search bar at the top of the page.\n<tool_call>\n{"name": "computer_use", "arguments": '
    '{"action": "left_click", "coordinate": [447, 81]}}\n</tool_call>',
    "constructed: the answer format of OSWorld's Qwen3-VL agent prompt (mm_agents/qwen3vl_agent.py, as in "
    "OS-Copilot/OS-Symphony) with the coordinate of QWEN3_MOBILE", constructed=True)

# ---- OpenCUA --------------------------------------------------------------------------------------

_WEBSITE = "XinyuanWangCS/OpenCUA-Website static/trajs/"
OPENCUA_L1_CLICK = Answer(
    '# Step 1:\n## Action:\nClick on the search box that says "Search your Address, City or Zip Code" to begin '
    'entering a location.\n\n## Code:\n```python\npyautogui.click(x=0.436, y=0.265)\n```\n',
    _WEBSITE + "368d9ba4-203c-40c1-9fa3-da2f1430ce63/traj.jsonl step 1 (0..1 coordinates)")
OPENCUA_WRITE = Answer(
    "# Step 2:\n## Action:\nType \"Manchester, GB\" in the search box.\n\n## Code:\n```python\n"
    "pyautogui.write(message='Manchester, GB')\n```\n",
    _WEBSITE + "368d9ba4-203c-40c1-9fa3-da2f1430ce63/traj.jsonl step 2")
OPENCUA_SCROLL = Answer(
    "# Step 5:\n## Action:\nScroll down to view more of the monthly forecast calendar.\n\n## Code:\n```python\n"
    "pyautogui.scroll(-5)\n```\n",
    _WEBSITE + "368d9ba4-203c-40c1-9fa3-da2f1430ce63/traj.jsonl step 5")
OPENCUA_TERMINATE = Answer(
    "# Step 6:\n## Action:\nTerminate the task as successful since we have completed our goal of finding the "
    "monthly forecast for Manchester, GB for the current month.\n\n## Code:\n```code\n"
    "computer.terminate(status='success')\n```\n",
    _WEBSITE + "368d9ba4-203c-40c1-9fa3-da2f1430ce63/traj.jsonl step 6 (a ```code block)")
OPENCUA_L2_SCROLL_AT = Answer(
    "# Step 6:\n## Thought:\nAfter clicking on the \"View PDF\" link, I can now see the full PDF document of the "
    "PromptAgent paper has loaded successfully.\n\nThe logical next action would be to scroll down to continue "
    "reading the paper.\n\n## Action:\nScroll down to continue reading the paper and find the experiment "
    "section.\n\n## Code:\n```python\npyautogui.moveTo(x=0.894491, y=0.350554)\npyautogui.scroll(-12)\n\n```\n",
    _WEBSITE + "conversation_17570f9b-fba5-49f5-91aa-6414982481db_trajectory_1753980912/traj.jsonl step 6 "
    "(thought shortened)")
OPENCUA_GROUNDING = Answer("```python\npyautogui.click(x=1443, y=343)\n```",
                           "xlang-ai/OpenCUA model/README.md, 'Expected result' of the grounding example "
                           "(OpenCUA-7B, pixels of the smart-resized image)")
_AGENTNET = "xlang-ai/OpenCUA evaluation/agentnetbench/sample_data/"
AGENTNET_DRAG = Answer("pyautogui.moveTo(x=0.328, y=0.4697)\npyautogui.dragTo(x=0.5025, y=0.6039, button='left')",
                       _AGENTNET + "s_5473959e0f6e21f7.json step 1 (AgentNet code, 0..1)")
AGENTNET_HOTKEY = Answer("pyautogui.hotkey(keys=['ctrl', 'c'])", _AGENTNET + "s_5473959e0f6e21f7.json step 2")
AGENTNET_WRITE_ENTER = Answer("pyautogui.write(message='SPOTIFY')\npyautogui.press(keys=['enter'])",
                              _AGENTNET + "s_7f27a11115e596eb.json step 2")
AGENTNET_RIGHT_CLICK = Answer("pyautogui.rightClick(x=0.6152, y=0.5337)", _AGENTNET + "s_c53b113bf3e7d362.json")

# ---- PC Agent-E (our grammar) ---------------------------------------------------------------------

PC_AGENT_E_BRACES = Answer(
    "{The Save As dialog is open and the file name field is focused, so I type the new name.}\n\n"
    "Action: {type text: final.txt}",
    "constructed: GAIR-NLP/PC-Agent-E deploy/prompt.py's 'Response Format: {Your thought process}\\n\\nAction: "
    "{The specific action you choose to take}', braces kept as deploy/agent.py's split_output strips them",
    constructed=True)
PC_AGENT_E_SCROLL = Answer("I need to see the rest of the list.\n\nAction: scroll (-5)",
                           "constructed: action 5 of GAIR-NLP/PC-Agent-E deploy/prompt.py, 'scroll (x)'",
                           constructed=True)

# ---- grounders' point answers ---------------------------------------------------------------------

MOLMO2_POINTS = Answer('<points coords="1 1 308 305 2 752 377">curb ramp</points>',
                       "verbatim allenai/Molmo2-8B output quoted in a public project's tests (found through code "
                       "search; the index does not name the repository)")
MOLMO2_COUNT = Answer('Counting the <points coords="1 1 073 160 2 173 600 3 258 725 4 323 735 5 353 160" '
                      'alt="boats">the boats</points> shows a total of 5.',
                      "a Molmo2 answer in the Ai2 playground UI's message fixtures (found through code search)")
MOLMO1_POINT = Answer('<point x="35.4" y="61.2" alt="curb ramp">curb ramp</point>',
                      "Molmo 1 point syntax (0..100) as allenai/Molmo-7B-O-0924's model card discussion #1 "
                      "describes it; values from the same project's tests as MOLMO2_POINTS")
QWEN3_GROUNDING = Answer('<points x1="745" y1="312"></points>',
                         "a ScreenSpot evaluation script's comment on Qwen3-VL answers ('Case 3: Qwen3-VL')")
