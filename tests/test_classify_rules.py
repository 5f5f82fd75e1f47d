"""The shipped [classifier] rules on each family of hard cases. The headlines are written
for these tests (none is copied from the development set), and the last test runs the
labeled development set from ../shared when it is there."""

from __future__ import annotations

import json

import pytest

from feeds.classify import Classifier
from feeds.config import load_config


@pytest.fixture(scope="module")
def rules() -> Classifier:
    return Classifier.from_config(load_config(use_user_file=False).classifier)


def check(rules: Classifier, title: str, summary: str, priority: str) -> None:
    result = rules.classify(title, summary)
    assert result.priority == priority, (title, result.tags, sorted({m.term for m in result.matches}))
    assert result.flag == (priority != "none")


def family(*cases: tuple[str, str, str]):
    return pytest.mark.parametrize("title, summary, priority", cases, ids=[c[0][:40] for c in cases])


@family(
    ("Limit orders pile up as bitcoin hovers near $100K", "Order books show heavy bids below the market.", "none"),
    ("Order flow shifts to offshore crypto exchanges", "Market makers moved volume after fee changes.", "none"),
    ("Whale's sell order briefly knocks ether off $4,000", "The market order swept thin liquidity.", "none"),
    ("President signs order opening retirement accounts to alternative assets",
     "The directive tells the Labor Department to revisit its guidance within 180 days.", "high"),
    ("Regulator orders crypto lender to repay customers", "The agency found the firm misled depositors.", "normal"),
)
def test_trading_orders_are_not_executive_orders(rules, title, summary, priority):
    check(rules, title, summary, priority)


@family(
    ("SEC Championship game draws record TV audience", "The football title game beat last year's ratings.", "none"),
    ("Athlete shaves 0.2 sec off world record in bitcoin-sponsored race", "The sprinter broke the mark in Rome.", "none"),
    ("SEC approves first spot ether ETFs", "The commission signed off on exchange rule changes for eight funds.",
     "normal"),
    ("SEC's Peirce: tokenized securities are still securities",
     "The commissioner's statement addressed blockchain-based shares.", "normal"),
)
def test_sec_the_regulator_not_the_conference_or_seconds(rules, title, summary, priority):
    check(rules, title, summary, priority)


@pytest.mark.parametrize("title, absent", [
    ("DC plans to ban crypto ATMs", "retirement"),  # Washington, not a defined-contribution plan
    ("NPS closes parks as Congress passes spending bill", "retirement"),  # the Park Service
    ("Crypto.com Arena hosts the finals", "crypto"),
    ("Ripple effect: rate cut lifts housing", "crypto"),
    ("EU lawmakers revive crypto wars over chat scanning", "crypto"),
    ("Chatbot maker's new model reads 2 million tokens", "crypto"),
    ("Swimmer takes gold at world championships", "alternatives"),
    ("Tax credits under the Inflation Reduction Act: IRA guidance for heat pumps", "retirement"),
    ("Health savings accounts get bigger catch-up contributions", "retirement"),
    ("Retired racehorses find new homes", "retirement"),
])
def test_word_traps_do_not_tag(rules, title, absent):
    assert absent not in rules.classify(title, "").tags


def test_lowercase_sec_is_not_the_regulator(rules):
    result = rules.classify("Bitcoin block times fall to 540 sec", "")
    assert "SEC" not in {m.term for m in result.matches}


@family(
    ("Bitcoin jumps 6% after SEC approval of options", "Traders piled into calls as the price hit a record.", "none"),
    ("Bitcoin falls below $60,000 as Fed holds rates",
     "Crypto markets slid after the central bank kept borrowing costs unchanged.", "none"),
    ("Bitcoin slides as Powell rules out rate cut", "Crypto prices fell after the Fed chair's remarks.", "none"),
    ("Ethereum price rebounds 8% after ETF inflows", "Traders cheered renewed demand from funds.", "none"),
    ("Ether ETFs see record inflows after staking approval", "Investors poured $1 billion into the funds.", "none"),
    ("Bitcoin ETF approval odds rise to 90%, analysts say", "Bloomberg analysts raised their estimate.", "none"),
)
def test_price_moves_and_flows_are_not_policy(rules, title, summary, priority):
    check(rules, title, summary, priority)


@family(
    ("Crypto exchange hacked for $200 million", "Attackers drained hot wallets overnight.", "none"),
    ("DeFi protocol loses $40 million in bridge exploit", "Investigators traced the stolen tokens to a mixer.",
     "none"),
    ("Coinbase reports record quarterly revenue", "Trading volume surged as bitcoin rallied.", "none"),
    ("Bitcoin miners post record revenue in third quarter", "Higher prices lifted earnings across the sector.",
     "none"),
    ("Stablecoin issuer Circle reports quarterly loss", "Costs rose as it expanded into new markets.", "none"),
)
def test_hacks_and_earnings_are_not_policy(rules, title, summary, priority):
    check(rules, title, summary, priority)


@family(
    ("How to add bitcoin to your IRA", "Several custodians now let savers buy coins in self-directed accounts.", "none"),
    ("Should you put private equity in your 401(k)?", "Experts weigh fees and liquidity.", "none"),
    ("What the DOL's crypto rule means for your 401(k)", "Here's what savers need to know.", "none"),
    ("Five ways to protect your retirement savings from inflation",
     "Consider TIPS, annuities and a diversified portfolio.", "none"),
    ("Opinion: Bitcoin belongs in every retirement plan", "The case for a small allocation is stronger than ever.",
     "none"),
)
def test_how_to_advice_and_opinion_are_not_policy(rules, title, summary, priority):
    check(rules, title, summary, priority)


@family(
    ("Florida pension fund buys $50 million of bitcoin ETF shares",
     "The state board disclosed the position in a quarterly filing.", "none"),
    ("Wisconsin investment board sells entire bitcoin ETF stake",
     "The pension manager exited its IBIT holding during the quarter.", "none"),
    ("Pension trustees approve 5% allocation to private credit",
     "The board voted unanimously at its quarterly meeting.", "none"),
    ("Fidelity adds private credit sleeve to target-date funds", "The firm said the option will launch next year.",
     "none"),
    ("Vanguard says it will not offer bitcoin ETFs to clients",
     "The firm called crypto too speculative for long-term investors.", "none"),
    ("Employees sue Acme over 401(k) crypto fund losses", "The complaint alleges fiduciaries ignored warnings.",
     "none"),
    ("Pension fund sues crypto exchange over losses", "The complaint was filed in federal court.", "none"),
    ("Court approves $20 million settlement in 401(k) fee case",
     "The judge signed off on the deal between workers and the employer.", "none"),
    ("Survey: most savers want crypto in retirement plans", "A poll of 2,000 workers found strong interest.", "none"),
    ("Senator discloses purchase of bitcoin ETF shares", "The filing shows a stake worth up to $50,000.", "none"),
    ("Morgan Stanley changes policy to let advisers pitch crypto funds",
     "Wealth clients with aggressive risk profiles qualify.", "none"),
    ("Apollo CEO: private credit belongs in 401(k) plans",
     "The executive said regulators are moving in the right direction.", "none"),
    ("Crypto industry spends $100 million lobbying Congress",
     "Super PACs target candidates ahead of the election.", "none"),
)
def test_company_and_pension_fund_decisions_lawsuits_and_surveys_are_not_policy(rules, title, summary, priority):
    check(rules, title, summary, priority)


@family(
    ("Federal judge blocks Labor Department fiduciary rule",
     "The court said the agency exceeded its authority under ERISA.", "normal"),
    ("Supreme Court declines to hear 401(k) fee case", "The justices left a lower court ruling in place.", "normal"),
    ("Court rules plan fiduciaries breached ERISA duties with gold fund",
     "The judge found the sponsor failed to monitor fees on the precious metals option.", "high"),
    ("Investors file suit against SEC over crypto enforcement", "The complaint challenges the agency's authority.",
     "none"),
    ("SEC sues crypto exchange for operating unregistered platform",
     "The agency alleges the firm commingled customer funds.", "normal"),
    ("Binance agrees to $4.3 billion settlement with US authorities",
     "The exchange pleaded guilty to money-laundering violations.", "normal"),
    ("Retirement industry group sues Labor Department over fiduciary rule",
     "The complaint says the agency exceeded its authority.", "none"),
    ("Appeals court upholds block on Labor Department fiduciary rule",
     "The ruling keeps the regulation from taking effect.", "normal"),
    ("Coinbase wins dismissal of SEC lawsuit", "A judge dismissed the agency's case against the exchange.", "normal"),
    ("Kraken to pay $30 million to settle SEC staking charges",
     "The exchange agreed to end its staking program in the US.", "normal"),
)
def test_court_rulings_and_enforcement_are_policy_lawsuits_filed_are_not(rules, title, summary, priority):
    check(rules, title, summary, priority)


@family(
    ("UK regulator lifts ban on crypto exchange-traded notes for retail investors",
     "The FCA said the products can be sold to consumers from October.", "normal"),
    ("Australian regulator tightens rules for super funds' private market valuations",
     "APRA said trustees must value unlisted assets more often.", "high"),
    ("Brazil's pension regulator allows funds to invest in bitcoin ETFs",
     "The council approved new rules for closed pension funds.", "high"),
    ("Ley de pensiones: el Senado aprueba la reforma previsional",
     "La norma eleva la cotización de los empleadores.", "normal"),
    ("México: la CNBV emite reglas para activos virtuales", "Las instituciones financieras necesitarán autorización.",
     "normal"),
    ("韩国金融委员会允许上市公司持有比特币", "监管机构表示将分阶段开放法人账户。", "normal"),
    ("中国证监会就养老金投资私募股权征求意见", "监管机构拟允许养老金配置私募基金。", "high"),
    ("금융위원회, 퇴직연금으로 비트코인 ETF 투자 허용 검토",
     "당국은 연금 계좌의 가상자산 투자 규제를 완화하는 방안을 논의하고 있다.", "high"),
    ("日本、暗号資産を金融商品取引法の対象に　金融庁が法案提出へ", "インサイダー取引規制を導入する。", "normal"),
    ("厚生労働省、企業年金の運用で暗号資産を認めない方針", "当局は価格変動が大きいとして規制を維持する。", "high"),
    ("España: la CNMV advierte sobre los riesgos de las criptomonedas",
     "El supervisor recordó que no están reguladas.", "normal"),
    ("Colombia: Superintendencia Financiera autoriza a fondos de pensiones invertir en bitcoin",
     "La medida permite una exposición limitada a activos digitales.", "high"),
    ("美国劳工部撤回限制401(k)投资加密货币的指引", "新指引不再要求计划发起人对加密资产保持极度谨慎。", "high"),
    ("韩国国会通过虚拟资产用户保护法", "该法律要求交易所分离保管用户资产。", "normal"),
    ("比特币价格跌破6万美元", "市场担忧美联储维持高利率。", "none"),
    ("Bitcoin sube 5% tras datos de empleo", "El precio superó los 100.000 dólares.", "none"),
    ("ビットコイン価格が急騰、最高値を更新", "ETFへの資金流入が続いた。", "none"),
)
def test_policy_outside_the_us_and_in_other_languages(rules, title, summary, priority):
    check(rules, title, summary, priority)


@family(
    ("EBSA rescinds 2022 warning on cryptocurrency in defined-contribution plans",
     "Employers no longer face heightened scrutiny for offering digital-asset options.", "high"),
    ("Labor Dept. withdraws guidance discouraging alternative assets in workplace savings plans",
     "The agency said the 2021 supplemental statement was rescinded.", "high"),
    ("Department of Labor signals openness to digital assets",
     "Officials said the agency will revisit its 2022 compliance release.", "high"),
    ("Senators unveil plan to let TSP participants buy digital-asset funds",
     "The legislation would require the Thrift Savings Board to add the option.", "high"),
    ("Treasury releases guidance on IRA energy credits",
     "The rules implement Inflation Reduction Act incentives for heat pumps.", "none"),
    ("IRS raises HSA catch-up contribution limits for 2026",
     "Health savings account holders can set aside more next year.", "none"),
)
def test_paraphrases_without_the_literal_keywords(rules, title, summary, priority):
    check(rules, title, summary, priority)


@family(
    ("WHITE HOUSE READIES ORDER ON CRYPTO IN RETIREMENT ACCOUNTS",
     "AN EXECUTIVE ORDER COULD COME AS SOON AS THIS WEEK, OFFICIALS SAID.", "high"),
    ("treasury secretary backs bitcoin in 401(k)s",
     "bessent told lawmakers the administration supports letting savers choose digital assets.", "high"),
    ("Pension &amp; crypto: Senate panel advances bill on state funds buying bitcoin",
     "The measure would let retirement systems hold digital assets.", "high"),
    ("Labor Department&#8217;s proposal would let 401K plans add gold", "Comments are due in 60 days.", "high"),
)
def test_case_entities_and_spellings(rules, title, summary, priority):
    check(rules, title, summary, priority)


@family(
    ("White House crypto czar says 401(k) order coming 'very soon'",
     "The adviser told reporters the president is reviewing a draft.", "high"),
    ("Labor secretary: 401(k) plans should be able to offer private equity",
     "Chavez-DeRemer said the department will issue guidance.", "high"),
    ("Sen. Warren asks Fidelity to reconsider bitcoin in 401(k)s", "The senator's letter cited volatility.", "high"),
    ("Fed removes reputational risk from bank exams",
     "Examiners will no longer consider reputational risk, which critics said hurt crypto firms.", "normal"),
    ("ECB's Lagarde: digital euro legislation should pass by 2026", "The central bank chief urged lawmakers to act.",
     "normal"),
    ("Wyoming launches state-issued stablecoin", "The token is backed by dollars and Treasuries.", "normal"),
    ("New York comptroller rejects calls to add crypto to pension fund",
     "The comptroller said digital assets are too volatile.", "none"),
    ("Bitcoin steady ahead of Fed decision", "Traders await the central bank's rate announcement.", "none"),
    ("EBSA chief promises 'neutral' stance on crypto in retirement plans",
     "The assistant secretary said the agency would not favor or disfavor any asset class.", "high"),
    ("SEC's Atkins says most crypto tokens are not securities",
     "The chairman outlined a token taxonomy in a speech.", "normal"),
    ("Senate Democrats block stablecoin bill in procedural vote",
     "The measure fell short of the 60 votes needed.", "normal"),
    ("Bitcoin rallies 5% after House passes crypto bills",
     "Traders cheered the progress on market structure legislation.", "none"),
    ("Trump family's crypto firm raises $500 million", "World Liberty Financial sold tokens to investors.", "none"),
)
def test_official_statements_and_supervision(rules, title, summary, priority):
    check(rules, title, summary, priority)


def test_high_needs_retirement_and_crypto_or_alternatives(rules):
    assert rules.classify("SEC finalizes private fund adviser reporting rule",
                          "Hedge funds and private equity firms must file quarterly statements.").priority == "none"
    assert rules.classify("IRS unveils 2026 IRA contribution limits",
                          "Savers can put $7,500 into individual retirement accounts next year.").priority == "normal"
    assert rules.classify("Senate hearing examines private equity in retirement accounts",
                          "Lawmakers questioned fees and valuations.").priority == "high"


def test_every_shipped_term_matches_its_own_spelling(rules):
    """A term that cannot match itself is a silent hole in the rules."""
    cfg = load_config(use_user_file=False).classifier
    for rule in cfg.tags:
        for term in rule.terms + rule.case_sensitive:
            spelled = term.replace("*", "s").replace("#", "12")
            found = {(m.tag, m.term) for m in rules.explain(f"{spelled} x", "")}
            assert (rule.name, term) in found, f"{rule.name}: {term!r} does not match {spelled!r}: {found}"


def test_development_set_meets_the_quality_bar(rules, shared_data):
    """Flag F1 >= 0.95 and high F1 >= 0.90 on ../shared/data/dev-labeled.jsonl."""
    tp = fp = fn = htp = hfp = hfn = 0
    lines = (shared_data / "dev-labeled.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines:
        item = json.loads(line)
        result = rules.classify(item["title"], item["summary"])
        flag, high = item["flag"], item["priority"] == "high"
        tp += result.flag and flag
        fp += result.flag and not flag
        fn += flag and not result.flag
        got_high = result.priority == "high"
        htp += got_high and high
        hfp += got_high and not high
        hfn += high and not got_high
    flag_f1 = 2 * tp / (2 * tp + fp + fn)
    high_f1 = 2 * htp / (2 * htp + hfp + hfn)
    assert len(lines) >= 100
    assert flag_f1 >= 0.95, (flag_f1, tp, fp, fn)
    assert high_f1 >= 0.90, (high_f1, htp, hfp, hfn)
