#!/usr/bin/python3
"""Writes tests/tokenizer/corpus.jsonl: the parity corpus (one JSON string a line).

Deterministic: hand-written cases plus seeded random mixes drawn from pools of
characters that stress the pre-tokenizer regexes, added-token matching, byte
fallback and normalization. Re-run after editing; commit the output.
  /usr/bin/python3 tests/tokenizer/make_corpus.py
"""
import json
import os
import random

HAND = [
    "",
    " ",
    "  ",
    "Hello world",
    "Hello World!",
    " Hello world",
    "Once upon a time",
    "Once upon a time, there was a little girl named Lily.",
    "hello    world   ",
    "a  b   c    d     e",
    "   leading spaces",
    "trailing spaces   ",
    "\t",
    "tab\tseparated\tvalues",
    "\t\tindented with tabs",
    "line one\nline two\n",
    "\n",
    "\n\n",
    "\n\n\n\nfour newlines",
    "windows\r\nline\r\nendings\r\n",
    "\r\n\r\n",
    "mixed \t \n \r\n whitespace  \n\n  end",
    "trailing newline \n",
    "space before newline   \nnext",
    "\u00a0non-breaking\u00a0space",
    "ideographic\u3000space",
    "next line\u0085char",
    "bom\ufeffinside",
    "zero\u200bwidth space",
    "vertical\u000btab and form\u000cfeed",
    "line\u2028separator and paragraph\u2029separator",
    "12345",
    "1234567890123456789012345678901234567890",
    "3.14159265358979",
    "Total: $1,234,567.89 (approx.)",
    "phone 555-0100, year 2024, 1st 2nd 3rd",
    "\u0661\u0662\u0663 arabic-indic digits \u0967\u0968 devanagari digits",
    "fullwidth \uff11\uff12\uff13 digits",
    "superscript x\u00b2 and fractions \u00bd \u00bc",
    "it's",
    "It'S",
    "we're they've I'm you'll he'd",
    "WE'RE THEY'VE I'M YOU'LL HE'D IT'S DON'T",
    "don't won't can't shouldn't",
    "'s 't 're 've 'm 'll 'd",
    "'S 'T 'RE 'VE 'M 'LL 'D",
    "rock'n'roll",
    "the dog's bone's",
    "it'\u017fa long s",
    "\"quoted\" and 'single quoted'",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9 co\u00f6perate",
    "cafe\u0301 decomposed accent",
    "e\u0301\u0301\u0301 stacked combining marks",
    "\u0301 leading combining mark",
    "A\u030a vs \u00c5 vs \u212b",
    "\ufb01 ligature and \u2126 ohm",
    "Stra\u00dfe \u1e9e",
    "\u0130stanbul \u0131\u015f\u0131k",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01",
    "\u6211\u7231\u5317\u4eac\u5929\u5b89\u95e8",
    "\u4e2d\u6587English\u6df7\u5408mixed",
    "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c \u30ab\u30bf\u30ab\u30ca \u3072\u3089\u304c\u306a",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002",
    "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4",
    "\ud55c\uad6d\uc5b4 \ubb38\uc7a5\uc785\ub2c8\ub2e4.",
    "\u1100\u1161\u11a8 conjoining jamo",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u0627\u0644\u0644\u063a\u0629 \u0627\u0644\u0639\u0631\u0628\u064a\u0629\u064c \u0645\u064f\u0634\u064e\u0643\u0651\u064e\u0644\u064e\u0629",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e \u0915\u094d\u0937\u0924\u094d\u0930\u093f\u092f",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0401\u043b\u043a\u0430",
    "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5",
    "\u01c5 titlecase \u01c8 letters \u1f88",
    "\u02b0 modifier \u02c6 letters",
    "\U0001F600",
    "\U0001F600\U0001F601\U0001F602",
    "I love \U0001F355 and \U0001F354!",
    "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466 family",
    "\U0001F44D\U0001F3FD thumbs up medium skin",
    "\U0001F469\U0001F3FF\u200d\U0001F4BB technologist",
    "\U0001F3F3\ufe0f\u200d\U0001F308 rainbow flag",
    "\U0001F1FA\U0001F1F8\U0001F1EF\U0001F1F5 flags",
    "\u2764\ufe0f heart",
    "\u263a\ufe0e text style",
    "\U0001D54F\U0001D552\U0001D563 math letters",
    "\U00020000 rare CJK ext B",
    "\U0001F9D1\u200d\U0001F91d\u200d\U0001F9D1",
    "def f(x):\n    return x * 2\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
    "#include <stdio.h>\nint main() { printf(\"hi\\n\"); }",
    "if x != None and y >= 3: print(f'{x!r}')",
    "const f = async () => { await g(); };  // comment",
    "SELECT * FROM users WHERE id = 42;",
    "<div class=\"a\"><p>Hello</p></div>",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}",
    "path/to/file.txt and C:\\Windows\\System32",
    "https://example.com/path?query=1&b=two#frag",
    "http://user:pass@host:8080/a/b/c.html",
    "email: someone@example.org",
    "$ ls -la | grep foo > out.txt 2>&1",
    "x**2 + y**2 == z**2 ...",
    "!!!???...,,,;;;:::",
    "--- === +++ ___ ***",
    "a/b/c\n/d/e\r\n/f",
    "hello///\n\nworld",
    "$$ \u20ac\u00a3\u00a5 \u00a9\u00ae\u2122 \u00b0\u00b1\u00d7\u00f7",
    "\u2014 em dash \u2013 en dash \u2026 ellipsis",
    "\u201csmart quotes\u201d \u2018single\u2019",
    "\u00bfQu\u00e9? \u00a1S\u00ed!",
    "CamelCaseWordsAndABBREVIATIONSHere",
    "HTMLParser XMLHttpRequest iOS macOS",
    "ALL CAPS SENTENCE WITH NUMBERS 123",
    "snake_case_identifier and kebab-case-identifier",
    "a1b2c3d4 v1.2.3 x86_64 i386",
    "<s>",
    "</s>",
    "<unk>",
    "<s>Hello</s>",
    "Hello <s> world </s> end",
    " <s> ",
    "<s><s><s>",
    "<|endoftext|>",
    "text<|endoftext|>more text",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|><|im_end|>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>",
    "<|begin_of_text|>",
    "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n",
    "<bos><eos><pad>",
    "<|startoftext|><|start|>user<|message|>hi<|end|><|return|>",
    "<|channel|>analysis<|message|>thinking<|call|>",
    "<\uff5cbegin\u2581of\u2581sentence\uff5c>Hello<\uff5cend\u2581of\u2581sentence\uff5c>",
    "<\uff5cUser\uff5c>hi<\uff5cAssistant\uff5c>hello",
    "<think>reasoning</think>answer",
    "<tool_call>{\"name\": \"f\"}</tool_call>",
    "<table><tr><td>cell</td></tr></table>",
    "<|fim_prefix|>def<|fim_suffix|>pass<|fim_middle|>",
    "<|reserved_special_token_5|>",
    "<unused0><unused1>",
    "<start_of_image><image_soft_token><end_of_image>",
    "[INST] question [/INST]",
    "<|im_start",
    "<|endoftext|",
    "<s",
    "\u2581already\u2581metaspace\u2581\u2581",
    "\u2581",
    "\u0120\u010a byte-level lookalikes",
    "<0x41> literal byte token text",
    "\u0000 nul and \u0001 control \u007f del",
    "\u200d lone zwj \u200c zwnj",
    "\ufffd replacement char",
    "\ue000 private use",
    "\u00ad soft hyphen",
    "tab\t\t\tthree",
    "    four leading spaces",
    "x" + " " * 40 + "y",
    "\n" * 40,
    "\t" * 35,
    " \n \n \n",
    "a\n\nb\n\n\nc",
    "word\u00a0\u00a0word",
    "   \u3000  mixed unicode spaces \u2003\u2009",
]


def make_random(rng, n):
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "0123456789",
        " ", "  ", "\t", "\n", "\r\n", "\r",
        "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T",
        ".,;:!?()[]{}<>\"'`~@#$%^&*-_=+|\\/",
        "\u00e9\u00e8\u00fc\u00f1\u00e7\u00df\u00c9\u00d6",
        "\u0301\u0308\u0327",
        "\u4e00\u4e8c\u4e09\u6c34\u706b\u3042\u3044\u30a2\u30a4",
        "\uac00\ub098\ub2e4",
        "\u0627\u0644\u0639\u0631\u0628",
        "\u0915\u093f\u0937\u094d",
        "\U0001F600\U0001F44D\U0001F3FD\u200d\u2764\ufe0f",
        "\u00a0\u3000\u2009\u0085",
        "\u0661\u0662\u00b2\u00bd\uff11",
        "\u01c5\u02b0\u1f88",
        "<s>", "</s>", "<|endoftext|>", "<|im_start|>", "<start_of_turn>",
        "<|begin_of_text|>", "<bos>", "\u2581",
    ]
    out = []
    for _ in range(n):
        k = rng.randint(1, 40)
        parts = []
        for _ in range(k):
            pool = rng.choice(pools)
            if len(pool) <= 2 or pool.startswith("<") or pool.startswith("'"):
                parts.append(pool)
            else:
                parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 6))))
        out.append("".join(parts))
    return out


def make_long(rng):
    words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog",
             "Lily", "park", "ball", "\u4e16\u754c", "caf\u00e9", "2024",
             "\U0001F600", "don't", "<s>", "\n", "\t", "  "]
    prose = []
    total = 0
    while total < 20000:
        w = rng.choice(words)
        prose.append(w)
        total += len(w) + 1
    long_prose = " ".join(prose)[:20000]
    return [
        long_prose,
        "a" * 20000,
        " " * 5000 + "x",
        "9" * 10000,
        "\U0001F600" * 3000,
        ("ab " * 7000)[:20000],
        "\u4e2d" * 8000,
    ]


def main():
    rng = random.Random(20240607)
    corpus = list(HAND) + make_random(rng, 120) + make_long(rng)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for s in corpus:
            f.write(json.dumps(s, ensure_ascii=True) + "\n")
    print(f"wrote {len(corpus)} strings to {path}")


if __name__ == "__main__":
    main()
