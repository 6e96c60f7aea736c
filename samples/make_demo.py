#!/usr/bin/env python3
"""Writes samples/demo.jsonl: a few members whose histories use every command of docs/CONTRACT.md.
Deterministic; rerun after changing it. Every command carries an idempotency key."""
import json, calendar

M = {
    "zhang": "00000000-0000-4000-8000-00000000d001",  # long career, deemed years, retires, allocations
    "li":    "00000000-0000-4000-8000-00000000d002",  # gap within 90 days, duplicate refund, relative care, heir
    "wang":  "00000000-0000-4000-8000-00000000d003",  # transfer in, late rejoin (6-month wait), lump sum, retires
    "chen":  "00000000-0000-4000-8000-00000000d004",  # transfer out
    "zhao":  "00000000-0000-4000-8000-00000000d005",  # retiree, dies, inheritance to Li and a payout
    "sun":   "00000000-0000-4000-8000-00000000d006",  # resident newborn, premiums, refund
    # Other regions. Their commands carry explicit keys (demo-cq-…, demo-sy-…, demo-fz-…, demo-sh-…)
    # so that the numbered keys of the members above stay what they were.
    "qian":    "00000000-0000-4000-8000-00000000d007",  # Chongqing: mutual-aid fund, a late payment, moves to Shenyang
    "qian_sy": "00000000-0000-4000-8000-00000000d008",  # Qian's Shenyang account: receives the transfer, minimum base
    "zhou":    "00000000-0000-4000-8000-00000000d009",  # Shenyang: minimum base 3,212 then 3,715 from 2012-07
    "wu":      "00000000-0000-4000-8000-00000000d00a",  # Fuzhou: newborn within 3 months, minor premiums, subsidy 260 then 300
    "zheng":   "00000000-0000-4000-8000-00000000d00b",  # Fuzhou: adult premiums, fully subsidised year
    "feng":    "00000000-0000-4000-8000-00000000d00c",  # Shanghai children: newborn within 3 months
    "he":      "00000000-0000-4000-8000-00000000d00d",  # Shanghai children: late application, covered from the 4th month
}
cmds = []
def add(date, c):
    cmds.append((date, len(cmds), c))
def last(y, m):
    return f"{y:04d}-{m:02d}-{calendar.monthrange(y, m)[1]:02d}"
def months(y0, m0, y1, m1):
    y, m = y0, m0
    while (y, m) <= (y1, m1):
        yield y, m
        m += 1
        if m == 13: y, m = y + 1, 1
def contribute(who, y, m, wage, payer="employer", **kw):
    add(kw.get("date", last(y, m)), dict(type="contribute", member=M[who], month=f"{y:04d}-{m:02d}", wage=wage, payer=payer, **kw))

# Zhang Wei: enrolled 1997, 10 years of pre-1997 service, employer to 2022-03, retires 2022-04.
add("1997-01-01", dict(type="enroll", member=M["zhang"], region="luzhou", scheme="employee", sex="male", birth_date="1962-03-10", date="1997-01-01"))
add("1997-01-02", dict(type="recognize_deemed", member=M["zhang"], date="1997-01-02", months=120, basis="pre_1997_service"))
for y, m in months(1997, 1, 2022, 3):
    contribute("zhang", y, m, str(1200 + (y - 1997) * 250) + ".00", employer_class="public" if y < 2005 else "enterprise")
add("2022-03-31", dict(type="suspend", member=M["zhang"], date="2022-03-31", reason="left_employer"))
add("2022-04-15", dict(type="retire", member=M["zhang"], date="2022-04-15"))
add("2023-06-08", dict(type="spend", member=M["zhang"], date="2023-06-08", amount="356.80", purpose="inpatient"))

# Zhao Min: retired 2010 with 20 deemed years; dies 2024; heirs Li Na (a member) and a son.
add("1997-01-01", dict(type="enroll", member=M["zhao"], region="luzhou", scheme="employee", sex="male", birth_date="1950-01-01", date="1997-01-01"))
add("1997-01-02", dict(type="recognize_deemed", member=M["zhao"], date="1997-01-02", months=240, basis="pre_1997_service"))
for y, m in months(1997, 1, 2009, 12):
    contribute("zhao", y, m, "1800.00")
add("2010-01-15", dict(type="retire", member=M["zhao"], date="2010-01-15"))
for y, m in months(2010, 1, 2024, 2):
    add(f"{y:04d}-{m:02d}-01", dict(type="credit_retiree_allocation", month=f"{y:04d}-{m:02d}"))
add("2018-09-09", dict(type="spend", member=M["zhao"], date="2018-09-09", amount="2400.00", purpose="outpatient"))
add("2024-02-20", dict(type="record_death", member=M["zhao"], date="2024-02-20"))
add("2024-04-02", dict(type="settle_inheritance", member=M["zhao"], date="2024-04-02",
                       heirs=[{"heir": M["li"], "name": "Li Na", "share": "0.5"}, {"heir": None, "name": "Zhao Lei", "share": "0.5"}]))

# Li Na: employer 2015-01..2020-06, left; back as an individual within 90 days; duplicate month refunded.
add("2015-01-01", dict(type="enroll", member=M["li"], region="luzhou", scheme="employee", sex="female", birth_date="1975-08-20", date="2015-01-01"))
for y, m in months(2015, 1, 2020, 6):
    contribute("li", y, m, "5200.00")
add("2020-06-30", dict(type="suspend", member=M["li"], date="2020-06-30", reason="left_employer"))
contribute("li", 2020, 8, "5200.00", payer="individual", date="2020-08-20")
contribute("li", 2020, 7, "5200.00", payer="individual", date="2020-08-20")
for y, m in months(2020, 9, 2021, 3):
    contribute("li", y, m, "5200.00", payer="individual")
for y, m in months(2021, 3, 2024, 12):
    contribute("li", y, m, "6100.00", date=last(y, m) if (y, m) != (2021, 3) else "2021-04-10")
add("2021-05-06", dict(type="refund", member=M["li"], date="2021-05-06", reason="duplicate", months=["2021-03"]))
# Family mutual aid (R14): the relative is registered before the account pays for her. Its own key
# keeps the numbering of the other keys.
add("2022-07-19", dict(type="register_relative", member=M["li"], date="2022-07-19", relation="parent", relative=None, name="Li Hua (mother)", key="demo-li-relative-00001"))
add("2022-07-19", dict(type="spend", member=M["li"], date="2022-07-19", amount="420.00", purpose="relative_care", beneficiary="Li Hua (mother)"))
add("2024-11-03", dict(type="spend", member=M["li"], date="2024-11-03", amount="88.50", purpose="pharmacy"))
# The pharmacy's system posted the same sale a second time: `demo` reverses it (see README,
# "Settling a dispute"). Its own key keeps the numbering of the other keys.
add("2024-11-03", dict(type="spend", member=M["li"], date="2024-11-03", amount="88.50", purpose="pharmacy", key="demo-li-pharmacy-posted-twice"))

# Wang Fang: transferred in from Chongqing, left her employer, rejoined late, bought the shortfall, retired.
add("2019-01-01", dict(type="enroll", member=M["wang"], region="luzhou", scheme="employee", sex="female", birth_date="1969-05-05", date="2019-01-01"))
add("2019-02-15", dict(type="transfer_in", member=M["wang"], date="2019-02-15", from_region="chongqing", balance="3520.50", months=96))
for y, m in months(2019, 1, 2023, 5):
    contribute("wang", y, m, "4800.00")
add("2023-05-31", dict(type="suspend", member=M["wang"], date="2023-05-31", reason="left_employer"))
for y, m in months(2023, 10, 2024, 3):
    contribute("wang", y, m, "4800.00", payer="individual")
add("2024-05-20", dict(type="lump_sum_makeup", member=M["wang"], date="2024-05-20", months=145))
add("2024-05-21", dict(type="retire", member=M["wang"], date="2024-05-21"))
add("2024-06-12", dict(type="spend", member=M["wang"], date="2024-06-12", amount="199.00", purpose="pharmacy"))

# Chen Jie: moves to Chengdu: suspend, then transfer out.
add("2018-07-01", dict(type="enroll", member=M["chen"], region="luzhou", scheme="employee", sex="male", birth_date="1990-11-11", date="2018-07-01"))
for y, m in months(2018, 7, 2023, 12):
    contribute("chen", y, m, "7300.00")
add("2023-12-31", dict(type="suspend", member=M["chen"], date="2023-12-31", reason="transfer_out"))
add("2024-01-20", dict(type="transfer_out", member=M["chen"], date="2024-01-20", to_region="chengdu"))

# Sun Yue: a resident newborn; child premiums (320 personal + 640 subsidy, R10); next year's premium
# refunded after the family moved.
add("2023-11-20", dict(type="enroll", member=M["sun"], region="luzhou", scheme="resident", sex="female", birth_date="2023-10-02", date="2023-11-20"))
add("2023-11-20", dict(type="pay_premium", member=M["sun"], coverage_year=2024, personal="320.00", subsidy="640.00", date="2023-11-20"))
add("2024-10-15", dict(type="pay_premium", member=M["sun"], coverage_year=2025, personal="320.00", subsidy="640.00", date="2024-10-15"))
add("2025-09-30", dict(type="pay_premium", member=M["sun"], coverage_year=2026, personal="320.00", subsidy="640.00", date="2025-09-30"))
add("2025-11-12", dict(type="refund", member=M["sun"], date="2025-11-12", reason="hukou_moved", coverage_year=2026))

# ---- Other regions: every command has its own key. ----
keyed = {}
def addk(prefix, date, c):
    keyed[prefix] = keyed.get(prefix, 0) + 1
    add(date, dict(c, key=f"demo-{prefix}-{keyed[prefix]:05d}"))
def contributek(prefix, who, y, m, wage, **kw):
    addk(prefix, kw.get("date", last(y, m)), dict(type="contribute", member=M[who], month=f"{y:04d}-{m:02d}", wage=wage, payer="employer", **kw))

# Qian Lei (Chongqing): employer 2015-01..2024-12 (8 % + 2 %, mutual-aid fund 1 % + 2.00 a month); the
# 2019-05 declaration is paid late (after the 20th of June); moves to Shenyang in 2025: suspend, then
# one in-ledger transfer to her Shenyang account (balance to the fen, months as deemed).
addk("cq", "2015-01-01", dict(type="enroll", member=M["qian"], region="chongqing", scheme="employee", sex="female", birth_date="1988-04-12", date="2015-01-01"))
for y, m in months(2015, 1, 2024, 12):
    kw = {"date": "2019-06-25"} if (y, m) == (2019, 5) else {}
    contributek("cq", "qian", y, m, "5600.00" if y < 2020 else "7200.00", **kw)
addk("cq", "2021-09-14", dict(type="spend", member=M["qian"], date="2021-09-14", amount="236.40", purpose="outpatient"))
addk("cq", "2024-12-31", dict(type="suspend", member=M["qian"], date="2024-12-31", reason="transfer_out"))
addk("sy", "2025-01-06", dict(type="enroll", member=M["qian_sy"], region="shenyang", scheme="employee", sex="female", birth_date="1988-04-12", date="2025-01-06"))
addk("cq", "2025-01-15", dict(type="transfer_out", member=M["qian"], date="2025-01-15", to_region="shenyang", to_member=M["qian_sy"]))
for y, m in months(2025, 1, 2025, 6):
    contributek("sy", "qian_sy", y, m, "3500.00")
addk("sy", "2025-04-02", dict(type="spend", member=M["qian_sy"], date="2025-04-02", amount="75.20", purpose="pharmacy"))

# Zhou Qiang (Shenyang): a low wage held to the minimum base, 3,212.00 until 2012-06, 3,715.00 from 2012-07.
addk("sy", "2010-03-01", dict(type="enroll", member=M["zhou"], region="shenyang", scheme="employee", sex="male", birth_date="1975-09-30", date="2010-03-01"))
for y, m in months(2010, 3, 2014, 12):
    contributek("sy", "zhou", y, m, "3000.00" if y < 2014 else "4200.00")

# Wu Xin (Fuzhou): born 2012-11-05, paid within 3 months (covered from birth); minor premiums; the
# subsidy is 260 for 2012, 300 from 2013.
addk("fz", "2012-12-10", dict(type="enroll", member=M["wu"], region="fuzhou", scheme="resident", sex="male", birth_date="2012-11-05", date="2012-12-10"))
addk("fz", "2012-12-10", dict(type="pay_premium", member=M["wu"], coverage_year=2012, personal="40.00", subsidy="260.00", date="2012-12-10"))
addk("fz", "2012-12-20", dict(type="pay_premium", member=M["wu"], coverage_year=2013, personal="40.00", subsidy="300.00", date="2012-12-20"))
addk("fz", "2013-11-02", dict(type="pay_premium", member=M["wu"], coverage_year=2014, personal="40.00", subsidy="300.00", date="2013-11-02"))

# Zheng Hua (Fuzhou): an adult, 150 a year; fully subsidised (low income) in 2014.
addk("fz", "2011-09-15", dict(type="enroll", member=M["zheng"], region="fuzhou", scheme="resident", sex="female", birth_date="1956-02-20", date="2011-09-15"))
addk("fz", "2011-09-15", dict(type="pay_premium", member=M["zheng"], coverage_year=2012, personal="150.00", subsidy="260.00", date="2011-09-15"))
addk("fz", "2012-10-08", dict(type="pay_premium", member=M["zheng"], coverage_year=2013, personal="150.00", subsidy="300.00", date="2012-10-08"))
addk("fz", "2013-10-08", dict(type="pay_premium", member=M["zheng"], coverage_year=2014, personal="0.00", subsidy="450.00", date="2013-10-08"))

# Feng Yu (Shanghai children): born 2024-02-15, paid within 3 months, covered from birth; 2025 paid in the window.
addk("sh", "2024-03-20", dict(type="enroll", member=M["feng"], region="shanghai", scheme="resident", sex="male", birth_date="2024-02-15", date="2024-03-20"))
addk("sh", "2024-04-01", dict(type="pay_premium", member=M["feng"], coverage_year=2024, personal="50.00", subsidy="50.00", date="2024-04-01"))
addk("sh", "2024-10-15", dict(type="pay_premium", member=M["feng"], coverage_year=2025, personal="50.00", subsidy="50.00", date="2024-10-15"))

# He Jing (Shanghai children): applies late in March 2024; covered from June (the 4th month).
addk("sh", "2024-03-10", dict(type="enroll", member=M["he"], region="shanghai", scheme="resident", sex="female", birth_date="2016-06-06", date="2024-03-10"))
addk("sh", "2024-03-10", dict(type="pay_premium", member=M["he"], coverage_year=2024, personal="50.00", subsidy="50.00", date="2024-03-10"))

cmds.sort(key=lambda t: (t[0], t[1]))
with open(__file__.replace("make_demo.py", "demo.jsonl"), "w") as f:
    i = 0
    for _, _, c in cmds:
        if "key" not in c:
            i += 1
            c = dict(c, key=f"demo-{i:05d}")
        f.write(json.dumps(c, ensure_ascii=False) + "\n")
print(len(cmds), "commands")
