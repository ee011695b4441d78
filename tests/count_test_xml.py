"""Counts gtest cases in Bazel's test.xml files.

Usage: count_test_xml.py TESTLOGS_DIR [PREFIX]
Prints passed count, failed count, then one failed test name per line. A test
target whose log shows a failure but whose XML has no failed case (crash,
timeout, non-gtest test) counts as one failure.
"""
import os
import sys
import xml.etree.ElementTree as ET


def main():
    root, prefix = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
    passed, failed, names = 0, 0, []
    for dirpath, _, files in os.walk(root):
        if "test.xml" not in files:
            continue
        target = os.path.relpath(dirpath, root)
        path = os.path.join(dirpath, "test.xml")
        try:
            tree = ET.parse(path)
        except ET.ParseError:
            failed += 1
            names.append(f"{prefix}//{target} (unreadable test.xml)")
            continue
        cases = tree.getroot().iter("testcase")
        target_failed, target_cases = 0, 0
        for case in cases:
            if case.get("status") == "notrun" or case.find("skipped") is not None:
                continue
            target_cases += 1
            if case.find("failure") is not None or case.find("error") is not None:
                target_failed += 1
                names.append(f"{prefix}//{target}: {case.get('classname')}.{case.get('name')}")
        top = tree.getroot()
        errors = int(top.get("errors", "0") or 0) + int(top.get("failures", "0") or 0)
        if target_cases == 0:
            # Non-gtest target: Bazel's generated XML reports errors/failures.
            if errors:
                failed += 1
                names.append(f"{prefix}//{target}")
            else:
                passed += 1
            continue
        if target_failed == 0 and errors:
            target_failed = 1
            names.append(f"{prefix}//{target} (crashed or timed out)")
        passed += target_cases - min(target_failed, target_cases)
        failed += target_failed
    print(passed)
    print(failed)
    for n in names:
        print(n)


if __name__ == "__main__":
    main()
