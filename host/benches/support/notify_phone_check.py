"""GOV.UK Notify's own phone check, timed: the figure presend is compared with.

Usage: notify_phone_check.py NUMBERS OUT RUNS

NUMBERS holds one phone cell a line, as uploaded. Each of RUNS passes checks
every one of them as Notify checks a recipient of a text message to a UK
mobile: PhoneNumber(cell).validate(allow_international_number=False,
allow_uk_landline=False). OUT gets a line per cell: its normalised number
(E.164 with its "+"), or empty when Notify refuses it. Prints one JSON line:
the seconds of each pass.

It needs Notify's code, which presend does not ship: a checkout of
https://github.com/alphagov/notifications-utils on PYTHONPATH (the bench
adds $NOTIFY_UTILS), installed with its requirements (`pip install -e`).
"""

import json
import sys
import time

from notifications_utils.recipient_validation.errors import InvalidPhoneError
from notifications_utils.recipient_validation.phone_number import PhoneNumber


def check(cell):
    try:
        number = PhoneNumber(cell)
        number.validate(allow_international_number=False, allow_uk_landline=False)
    except InvalidPhoneError:
        return ""
    return "+" + str(number)


def main():
    numbers_path, out_path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(numbers_path, encoding="utf-8") as f:
        cells = f.read().splitlines()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        checked = [check(cell) for cell in cells]
        seconds.append(time.perf_counter() - started)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(checked) + "\n")
    print(json.dumps({"seconds": seconds}))


if __name__ == "__main__":
    main()
