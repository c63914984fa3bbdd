"""WHOIS answers (RFC 3912) in the registries' own formats, for tests.

Each builder writes one registry's layout as its port-43 server sends it:
its labels, spacing, comment marks, line ends (CRLF where the registry
uses them) and encoding (Latin-1 for DENIC and Traficom, cp1254 for TRABIS,
EUC-KR or UTF-8 for KISA). Names, people and dates are our own; dates are
days from a `now` the test passes in. Notices are shortened.

`cases(now)` is the catalogue: every registry with a registered answer, a
not-found answer and, where the registry has them, lapse states and its
refusal as the registry words it. `RECORDS` builds a registered answer with
any status, for the status tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

DAY = 86400.0


def on(now: float, days: float, form: str) -> str:
    """The day `days` from `now` in a registry's date format (strftime, and {d}/{m} for unpadded day/month)."""
    moment = datetime.fromtimestamp(now + days * DAY, UTC)
    return moment.strftime(form.replace("{d}", str(moment.day)).replace("{m}", str(moment.month)))


def lf(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


def crlf(text: str, encoding: str = "utf-8") -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode(encoding)


def ace(name: str) -> str:
    return name.encode("idna").decode("ascii")


# --- DENIC (.de): LF; Latin-1 when asked for it, UTF-8 by default -------------------------------

DENIC_NOTICE = """% Restricted rights.
%
% Terms and Conditions of Use
%
% The data below may only be used for technical or administrative needs of
% Internet operation, or to remedy legal problems.
%
"""


def denic(domain: str, status: str = "connect", *, unicode_name: str | None = None, encoding: str = "latin-1") -> bytes:
    name = f"Domain: {unicode_name}\nDomain-Ace: {domain}\n" if unicode_name else f"Domain: {domain}\n"
    return lf(
        f"""{DENIC_NOTICE}
{name}Nserver: ns1.hostingfirma-nord.de
Nserver: ns2.hostingfirma-nord.de
Status: {status}
Changed: 2024-05-14T09:12:40+02:00

[Tech-C]
Type: ROLE
Name: Jürgen Bäcker
Organisation: Bäckerei Lindner GmbH
Address: Hauptstraße 12
PostalCode: 10115
City: Berlin
CountryCode: DE
Email: technik@hostingfirma-nord.de
Changed: 2023-11-02T16:40:11+01:00
""",
        encoding,
    )


def denic_free(domain: str) -> bytes:
    return lf(f"Domain: {domain}\nStatus: free\n")


DENIC_LIMIT = lf("% Error: 55000000002 Connection refused; access control limit reached.\n\n")


# --- Registro .it: LF ----------------------------------------------------------------------------

IT_BANNER = """
*********************************************************************
* Please note that the following result could be a subgroup of      *
* the data contained in the database.                               *
*********************************************************************
"""


def nic_it(domain: str, status: str, expires: str) -> bytes:
    return lf(f"""{IT_BANNER}
Domain:             {domain}
Status:             {status}
Signed:             no
Created:            2016-03-09 10:21:44
Last Update:        2025-03-25 00:53:12
Expire Date:        {expires}

Registrant
  Organization:     Pasticceria Ferri S.r.l.
  Address:          Via Roma 8
                    Modena
                    41121
                    MO
                    IT
  Created:          2016-03-09 10:21:43
  Last Update:      2016-03-09 10:21:43

Registrar
  Organization:     Rete Veloce S.p.A.
  Name:             RETEVELOCE-REG

Nameservers
  dns1.reteveloce.it
  dns2.reteveloce.it

""")


def nic_it_short(domain: str, status: str) -> bytes:
    return lf(f"Domain:             {domain}\nStatus:             {status}\n")


# --- EURid (.eu): LF, errors with CRLF -------------------------------------------------------------

EU_NOTICE = """% The WHOIS service offered by EURid is provided for information purposes
% only. By submitting a query you agree to the terms published on www.eurid.eu.
%
% The EURid WHOIS service on port 43 (textual WHOIS) never discloses
% any information concerning the registrant.
%
"""


def eurid(domain: str) -> bytes:
    return lf(f"""{EU_NOTICE}% WHOIS {domain}
Domain: {domain}
Script: LATIN

Registrant:
        NOT DISCLOSED!
        Visit www.eurid.eu for the web-based WHOIS.

Technical:
        Organisation: Atelier Dupont SPRL
        Language: fr
        Email: tech@atelier-dupont.example

Registrar:
        Name: Hébergement Wallon SA
        Website: https://hebergement-wallon.example

Name servers:
        ns1.hebergement-wallon.example
        ns2.hebergement-wallon.example

Please visit www.eurid.eu for more info.
""")


def eurid_status(domain: str, status: str) -> bytes:
    return lf(f"{EU_NOTICE}% WHOIS {domain}\nDomain: {domain}\nScript: LATIN\nStatus: {status}\n")


def eurid_grace(domain: str, seconds: int) -> bytes:
    return crlf(f"{EU_NOTICE}% WHOIS {domain}\n-1: Still in grace period, wait {seconds} seconds\n")


# --- DNS Belgium (.be): CRLF, tab after labels -----------------------------------------------------

BE_NOTICE = """% .be Whois Server 6.1
%
% The WHOIS service offered by DNS.be is provided for information purposes only.
% DNS.be can take measures to limit the use of its whois services.
%
"""


def dns_be(domain: str, status: str) -> bytes:
    body = f"Domain:\t{domain}\nStatus:\t{status}\n"
    if status != "AVAILABLE":
        body += (
            "Registered:\tWed Apr 3 2013\n\nRegistrant:\n\tNot shown, please visit www.dnsbelgium.be "
            "for webbased whois.\n\nRegistrar:\n\tName:\t Webhuis Gent\n\tWebsite: https://webhuis.example\n\n"
            "Nameservers:\n\tns1.webhuis.example\n\tns2.webhuis.example\n\nKeys:\n\nFlags:\n"
        )
    return crlf(f"{BE_NOTICE}\n{body}\nPlease visit www.dnsbelgium.be for more info.\n")


BE_HOURLY = lf(BE_NOTICE + "% WHOIS test\n% Maximum queries per hour reached (100)\n\n")
BE_BLOCKED = crlf(BE_NOTICE + " bakkerij-peeters.be\n-3: IP address blocked\n")


# --- SWITCH (.ch, .li): LF, the value on the line after its label ------------------------------------


def switch(domain: str) -> bytes:
    return lf(f"""Domain name:
{domain}

Holder of domain name:
Uhrenatelier Keller AG
Bahnhofstrasse 3
8001 Zürich
Switzerland

Registrar:
Netzwerk Alpin GmbH

First registration date:
14 Feb 2011

DNSSEC:N

Name servers:
ns1.netzwerk-alpin.example
ns2.netzwerk-alpin.example

""")


SWITCH_NOT_REGISTERED = lf("The domain name is not registered.\n")
SWITCH_NO_ENTRY = lf("We do not have an entry in our database matching your query.\n\n")
SWITCH_NOT_PERMITTED = lf(
    "Requests of this client are not permitted. Please use https://www.nic.ch/whois/ for queries.\n\n"
)


# --- JPRS (.jp): CRLF, bracketed labels, English with /e --------------------------------------------

JP_NOTICE = """[ JPRS database provides information on network administration. Its use is    ]
[ restricted to network administration purposes. For further information,     ]
[ use 'whois -h whois.jprs.jp help'. To suppress Japanese output, add'/e'     ]
[ at the end of command, e.g. 'whois -h whois.jprs.jp xxx/e'.                 ]
"""


def jprs(domain: str, status: str, expires: str, created: str = "2014/06/02") -> bytes:
    return crlf(f"""{JP_NOTICE}
Domain Information:
[Domain Name]                   {domain.upper()}

[Registrant]                    Sakura Pan Kobo

[Name Server]                   ns1.sakura-net.example
[Name Server]                   ns2.sakura-net.example
[Signing Key]                   

[Created on]                    {created}
[Expires on]                    {expires}
[Status]                        {status}
[Last Updated]                  2025/07/01 01:05:03 (JST)

Contact Information:
[Name]                          Sakura Pan Kobo
[Email]                         info@sakura-pan.example
[Web Page]                       
[Postal code]                   150-0001
[Postal Address]                Shibuya-ku
[Phone]                         03-0000-0000
[Fax]                           

""")


def jprs_co(domain: str, state: str) -> bytes:
    return crlf(f"""{JP_NOTICE}
Domain Information:
a. [Domain Name]                {domain.upper()}
g. [Organization]               Kawase Shoji K.K.
l. [Organization Type]          KK
m. [Administrative Contact]     KS12345JP
n. [Technical Contact]          KS12345JP
p. [Name Server]                ns1.kawase.example
p. [Name Server]                ns2.kawase.example
s. [Signing Key]                
[State]                         {state}
[Lock Status]                   AgentChangeLocked
[Registered Date]               2003/09/16
[Connected Date]                2003/09/16
[Last Update]                   2025/10/01 01:05:57 (JST)
""")


JP_NO_MATCH = lf(JP_NOTICE + "\nNo match!!\n\nWith JPRS WHOIS, you can query JP domain names.\n")


# --- CNNIC (.cn): LF, UTF-8 ---------------------------------------------------------------------------


def cnnic(domain: str, statuses: list[str], expires: str) -> bytes:
    lines = "".join(f"Domain Status: {s}\n" for s in statuses)
    return lf(f"""Domain Name: {domain}
ROID: 20190311s10001s56789012-cn
{lines}Registrant: 杭州青山茶叶有限公司
Registrant Contact Email: admin@qingshan-tea.example
Sponsoring Registrar: 杭州云端网络科技有限公司
Name Server: ns1.yunduan.example
Name Server: ns2.yunduan.example
Registration Time: 2019-03-11 10:15:20
Expiration Time: {expires}
DNSSEC: unsigned
""")


CN_NO_MATCH = lf("No matching record.\n")
CN_PROHIBITED = lf("The domain you requested is prohibited.\n")


# --- TCI (.ru, .su, .рф): LF ----------------------------------------------------------------------

RU_NOTICE = "% TCI Whois Service. Terms of use:\n% https://tcinet.ru/documents/whois_ru_rf.pdf (in Russian)\n\n"


def tci(domain: str, state: str, paid_till: str, free_date: str) -> bytes:
    return lf(f"""{RU_NOTICE}domain:        {domain.upper()}
nserver:       ns1.volga-host.example.
nserver:       ns2.volga-host.example.
state:         {state}
org:           OOO "Volzhskaya Pekarnya"
taxpayer-id:   6315000000
registrar:     VOLGA-RU
admin-contact: https://volga-host.example/whois
created:       2012-04-17T20:00:00Z
paid-till:     {paid_till}
free-date:     {free_date}
source:        TCI

Last updated on 2025-11-30T11:01:31Z
""")


RU_NO_ENTRIES = lf(
    "% TCI Whois Service. Terms of use: see tcinet.ru\n\nNo entries found for the selected "
    "source(s).\n\nLast updated on 2025-11-30T03:51:30Z\n"
)
RU_RATE = lf("You have exceeded allowed connection rate.\n")


# --- ICANN's common format (.io, .me, .co, .us, Verisign): CRLF ---------------------------------------

ICANN_TAIL = """>>> Last update of WHOIS database: 2025-11-30T03:40:31Z <<<

For more information on Whois status codes, please visit https://icann.org/epp

NOTE: FAILURE TO LOCATE A RECORD IN THE WHOIS DATABASE IS NOT INDICATIVE OF THE AVAILABILITY OF A DOMAIN NAME.
"""


def icann(domain: str, statuses: list[str], expires: str, *, registrar_whois: str = "", upper: bool = False) -> bytes:
    lines = "".join(f"Domain Status: {s} https://icann.org/epp#{s}\n" for s in statuses)
    name = domain.upper() if upper else domain
    return crlf(f"""Domain Name: {name}
Registry Domain ID: D4815162342-LRMS
Registrar WHOIS Server: {registrar_whois}
Registrar URL: https://registrar.example
Updated Date: 2025-05-06T17:24:58Z
Creation Date: 2018-05-28T22:09:44Z
Registry Expiry Date: {expires}
Registrar Registration Expiration Date: 2020-01-01T00:00:00Z
Registrar: Example Registrar LLC
Registrar IANA ID: 9999
{lines}Registrant Organization: Data Redacted
Registrant Country: NL
Name Server: NS1.REGISTRAR.EXAMPLE
Name Server: NS2.REGISTRAR.EXAMPLE
DNSSEC: unsigned
URL of the ICANN Whois Inaccuracy Complaint Form: https://www.icann.org/wicf/
{ICANN_TAIL}""")


def icann_thin(domain: str, registrar_whois: str) -> bytes:
    """A thin registry's answer: who the registrar is and where its server is, no status."""
    return crlf(f"""Domain Name: {domain}
Registrar WHOIS Server: {registrar_whois}
Registrar URL: https://registrar.example
Registrar: Example Registrar LLC
{ICANN_TAIL}""")


def icann_not_found(line: str) -> bytes:
    return crlf(f"{line}\n{ICANN_TAIL}")


# --- Internetstiftelsen (.se, .nu): LF --------------------------------------------------------------

SE_NOTICE = """# Copyright (c) 1997- The Swedish Internet Foundation.
# All rights reserved.
# Result of search for registered domain names under
# the .se top level domain.
# This whois printout is printed with UTF-8 encoding.
#
"""


def iis(domain: str, state: str, statuses: list[str], expires: str) -> bytes:
    lines = "".join(f"status:           {s}\n" for s in statuses)
    return lf(f"""{SE_NOTICE}state:            {state}
domain:           {domain}
holder:           abc1234-00001
created:          2009-02-11
modified:         2025-01-20
expires:          {expires}
transferred:      2015-06-04
nserver:          ns1.fjallnet.example
nserver:          ns2.fjallnet.example
dnssec:           unsigned delegation
{lines}registrar:        Fjällnät AB
""")


def iis_not_found(domain: str) -> bytes:
    return lf(f'{SE_NOTICE}domain "{domain}" not found.\n')


# --- nic.at: LF, no status, no dates ------------------------------------------------------------------

AT_NOTICE = """% Copyright (c)2025 by NIC.AT (1)
%
% Restricted rights.
%
% Except for agreed Internet operational purposes, no part of this
% information may be reproduced without prior permission of NIC.AT.
%
"""


def nic_at(domain: str) -> bytes:
    return lf(f"""{AT_NOTICE}
domain:         {domain}
registrar:      Webagentur Donau GmbH ( https://nic.at/registrar/999 )
registrant:     WD1234567-NICAT
tech-c:         WD7654321-NICAT
nserver:        ns1.webagentur-donau.example
nserver:        ns2.webagentur-donau.example
changed:        20240303 09:38:55
source:         AT-DOM

personname:     Anna Gruber
organization:   Konditorei Gruber
street address: Ringstrasse 1
postal code:    1010
city:           Wien
country:        Austria
nic-hdl:        WD1234567-NICAT
changed:        20240309 17:01:08
source:         AT-DOM
""")


AT_NOTHING = lf(AT_NOTICE + "\n% nothing found\n\n")


# --- Punktum dk (.dk): LF ------------------------------------------------------------------------------

DK_NOTICE = """# Hello 192.0.2.1. Your session has been logged.
#
# Copyright (c) 2002 - 2025 by Punktum dk A/S
#
# Version: 5.0.2
#
# The data in the DK Whois database is provided for information purposes only.
"""


def punktum(domain: str, status: str, expires: str) -> bytes:
    return lf(f"""{DK_NOTICE}
Domain:               {domain}
DNS:                  {domain}
Registered:           2011-08-16
Expires:              {expires}
Registration period:  1 year
VID:                  no
DNSSEC:               Unsigned delegation, DNSSEC disabled, no records
Status:               {status}

Nameservers
Hostname:             ns1.nordlys.example
Hostname:             ns2.nordlys.example
""")


DK_NO_ENTRIES = lf(DK_NOTICE + "\nNo entries found for the selected source.\n")
DK_TOO_MANY = lf("# Too many connections.\n\n")


# --- InternetNZ (.nz): CRLF, key: value ------------------------------------------------------------------

NZ_NOTICE = "% Terms of Use\n%\n% By submitting a WHOIS query you agree to the .nz terms at https://dnc.org.nz/.\n%\n"


def irs_nz(domain: str, status: str) -> bytes:
    body = f"version: 8.7\nquery_datetime: 2025-11-30T15:52:13+13:00\ndomain_name: {domain}\nquery_status: {status}\n"
    if status.startswith("2") and not status.startswith("220"):
        body += (
            "domain_dateregistered: 2016-07-14T12:11:36+12:00\n"
            "domain_datelastmodified: 2025-07-14T03:13:49+12:00\n"
            "domain_delegaterequested: yes\ndomain_signed: no\n%\nregistrar_name: Kiwi Names Ltd\n"
            "%\nns_name_01: ns1.kiwinames.example\nns_name_02: ns2.kiwinames.example\n"
        )
    return crlf(f"{NZ_NOTICE}{body}%\n% Additional information may be available at https://www.dnc.org.nz/whois\n%\n")


# --- TWNIC (.tw): LF, indented ------------------------------------------------------------------------


def twnic(domain: str, statuses: str, expires: str) -> bytes:
    return lf(f"""Domain Name: {domain}
   Domain Status: {statuses}
   Registrant:
      Formosa Tea House Co., Ltd.
      tea@formosa-tea.example

   Record expires on {expires} (UTC+8)
   Record created on 2012-08-29 10:22:50 (UTC+8)

   Domain servers in listed order:
      ns1.formosa-net.example
      ns2.formosa-net.example

Registration Service Provider: Formosa Net
""")


TW_NO_FOUND = lf("No Found\n")


# --- KISA (.kr): LF; a Korean section then an English one ----------------------------------------------


def kisa(domain: str, expires: str, *, unicode_name: str | None = None, encoding: str = "utf-8") -> bytes:
    shown = unicode_name or domain
    return lf(
        f"""query : {shown}


# KOREAN(UTF8)

도메인이름                  : {shown}
등록인                      : 한빛제과
등록일                      : 2010. 03. 12.
사용 종료일                 : {expires}

# ENGLISH

Domain Name                 : {shown}
Registrant                  : Hanbit Bakery
Registrant Address          : 12, Sejong-daero, Jung-gu, Seoul
Administrative Contact(AC)  : Hanbit Bakery
Registered Date             : 2010. 03. 12.
Last Updated Date           : 2025. 04. 05.
Expiration Date             : {expires}
Publishes                   : Y
Authorized Agency           : Hangang Net(http://hangang.example)
DNSSEC                      : unsigned

Primary Name Server
   Host Name                : ns1.hangang.example

Secondary Name Server
   Host Name                : ns2.hangang.example


- KISA/KRNIC WHOIS Service -
""",
        encoding,
    )


def kisa_not_found(domain: str) -> bytes:
    return lf(f"""query : {domain}


# KOREAN(UTF8)

상기 도메인이름은 등록되어 있지 않습니다.

# ENGLISH

The requested domain was not found in the Registry or Registrar’s WHOIS Server.


- KISA/KRNIC WHOIS Service -
""")


# --- TRABIS (.tr): LF, cp1254 -----------------------------------------------------------------------


def trabis(domain: str, expires: str, *, unicode_name: str | None = None) -> bytes:
    return lf(
        f"""** Domain Name: {unicode_name or domain}

** Registrant:
   Yılmaz Fırın Ürünleri Ltd. Şti.
   Atatürk Caddesi 5
   İzmir
   Türkiye


** Administrative Contact:
NIC Handle\t\t: yf123-metu
Organization Name\t: Yılmaz Fırın Ürünleri Ltd. Şti.
Address\t\t\t: Hidden upon user request


** Domain Servers:
ns1.ege-hosting.example
ns2.ege-hosting.example

** Additional Info:
Created on..............: 2009-Mar-02.
Expires on..............: {expires}
""",
        "cp1254",
    )


def trabis_no_match(domain: str) -> bytes:
    return lf(f'No match found for "{domain}"\n', "cp1254")


# --- Traficom (.fi): CRLF, Latin-1, dotted labels ------------------------------------------------------


def traficom(domain: str, status: str, expires: str, *, unicode_name: str | None = None) -> bytes:
    shown = (
        f"domain.............: {unicode_name}\ndomain:   {domain}\n"
        if unicode_name
        else f"domain.............: {domain}\n"
    )
    return crlf(
        f"""
{shown}status.............: {status}
created............: 5.1.2014 10:46:30
expires............: {expires}
available..........: {expires}
RegistryLock.......: no

Nameservers

nserver............: ns1.saimaa-net.example [OK]
nserver............: ns2.saimaa-net.example [OK]

Holder

name...............: Mökkivuokraus Järvinen Oy
country............: Finland

>>> Last update of WHOIS database: 30.11.2025 2:17:35 (EET) <<<


Copyright (c) Finnish Transport and Communications Agency Traficom

""",
        "latin-1",
    )


FI_NOT_FOUND = lf("\nDomain not found\n\nCopyright (c) Finnish Transport and Communications Agency Traficom\n\n")


# --- IRNIC (.ir): LF, tabs ------------------------------------------------------------------------------

IR_NOTICE = "% This is the IRNIC Whois server v1.6.2.\n% Available on web at http://whois.nic.ir/\n% \n"


def irnic(domain: str, expires: str) -> bytes:
    return lf(f"""{IR_NOTICE}
% Information related to '{domain}'


domain:\t\t{domain}
ascii:\t\t{domain}
remarks:\t(Domain Holder) Shirini Saray Co.
holder-c:\tss123-irnic
nserver:\tns1.pars-host.example
nserver:\tns2.pars-host.example
last-updated:\t2025-11-07
expire-date:\t{expires}
source:\t\tIRNIC # Filtered
""")


def irnic_none(domain: str) -> bytes:
    return lf(
        f"{IR_NOTICE}\n% Information related to '{domain}'\n\n%ERROR:101: no entries found\n% \n"
        "% No entries found in the selected source(s).\n\n"
    )


# --- NASK (.pl): LF; not found in CRLF ---------------------------------------------------------------


def nask(domain: str, renewal: str, option_expires: str) -> bytes:
    return lf(f"""DOMAIN NAME:                    {domain}
registrant type:                organization
nameservers:                    ns1.wisla-net.example. [192.0.2.33]
                                ns2.wisla-net.example. [192.0.2.34]
created:                        2008.05.20 01:00:00
last modified:                  2025.03.02 11:00:20
renewal date:                   {renewal}

option created:                 2025.05.02 12:01:14
option expiration date:         {option_expires}

dnssec:                         Unsigned

REGISTRAR:
Wisla Net sp. z o.o.
ul. Dluga 1
00-001 Warszawa

WHOIS database responses:       https://dns.pl/en/whois
""")


def nask_none(domain: str) -> bytes:
    return crlf(
        f"\n\nNo information available about domain name {domain} in the Registry NASK database.\n\n\n"
        "WHOIS database responses: https://dns.pl/en/whois\n"
    )


PL_LIMIT = lf("request limit exceeded for 192.0.2.1\n")


# --- Nominet (.uk): CRLF, indented blocks ----------------------------------------------------------------

UK_TAIL = """
-- 
This WHOIS information is provided for free by Nominet UK the central registry
for .uk domain names. You may not access the .uk WHOIS or use any data from it
except as permitted by the terms of use, which includes restrictions on: (A) use
of the data for advertising, (B) obscuring this notice and (C) exceeding query rate or volume
limits. Access may be withdrawn or restricted at any time. 
"""


def nominet(domain: str, status_lines: list[str], expiry_label: str, expires: str) -> bytes:
    status = "".join(f"        {line}\n" for line in status_lines)
    return crlf(f"""
    Domain name:
        {domain}

    Registrant:
        Harbour Fish Bar Ltd

    Registrar:
        Coastal Hosting Ltd [Tag = COASTAL]
        URL: https://coastal-hosting.example

    Relevant dates:
        Registered on: 14-Mar-2012
        {expiry_label}:  {expires}
        Last updated:  02-Apr-2025

    Registration status:
{status}
    Name servers:
        ns1.coastal-hosting.example
        ns2.coastal-hosting.example

    WHOIS lookup made at 11:45:10 30-Nov-2025
{UK_TAIL}""")


def nominet_no_match(domain: str) -> bytes:
    return crlf(
        f'\n    No match for "{domain}".\n\n    This domain name has not been registered.\n\n'
        f"    WHOIS lookup made at 22:14:59 30-Nov-2025\n{UK_TAIL}"
    )


def nominet_quota(domain: str, seconds: int) -> bytes:
    return lf(
        f'    Error for "{domain}".\n\n    The WHOIS query quota for 192.0.2.1 has been exceeded\n'
        f"    and will be replenished in {seconds} seconds.\n\n    WHOIS lookup made at 20:30:08 30-Nov-2025\n"
    )


# --- the catalogue ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    server: str  # the registry's own host: its table row
    domain: str
    raw: bytes
    verdict: str  # "active", "lapsed", "inconclusive" or "refused"
    flags: tuple[str, ...] | None = None  # None: not checked
    expires_in: float | None = None  # days from now, when the answer gives the registry's expiry
    grace: bool = False
    retry_after: float | None = None

    def __str__(self) -> str:
        return self.name


NOT_FOUND = ("not found",)
IDN_DE = "bäckerei-lindner.de"
IDN_TR = "yılmaz-fırın.com.tr"
IDN_KR = "한빛제과.kr"
IDN_FI = "mökkivuokraus.fi"


def cases(now: float) -> list[Case]:
    def d(days: float, form: str) -> str:
        return on(now, days, form)

    iso, ymd = "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"
    return [
        # DENIC
        Case(
            "de-connect",
            "whois.denic.de",
            "baeckerei-lindner.de",
            denic("baeckerei-lindner.de"),
            "active",
            ("connect",),
        ),
        Case(
            "de-connect-utf8",
            "whois.denic.de",
            "baeckerei-lindner.de",
            denic("baeckerei-lindner.de", encoding="utf-8"),
            "active",
            ("connect",),
        ),
        Case("de-idn-latin1", "whois.denic.de", ace(IDN_DE), denic(ace(IDN_DE), unicode_name=IDN_DE), "active"),
        Case(
            "de-failed", "whois.denic.de", "kanzlei-roth.de", denic("kanzlei-roth.de", "failed"), "active", ("failed",)
        ),
        Case(
            "de-redemption",
            "whois.denic.de",
            "alte-muehle.de",
            denic("alte-muehle.de", "redemptionPeriod"),
            "lapsed",
            ("redemptionPeriod",),
            grace=True,
        ),
        Case("de-invalid", "whois.denic.de", "ab--cd.de", denic("ab--cd.de", "invalid"), "inconclusive"),
        Case("de-free", "whois.denic.de", "frei-und-leer.de", denic_free("frei-und-leer.de"), "lapsed", NOT_FOUND),
        Case("de-limit", "whois.denic.de", "baeckerei-lindner.de", DENIC_LIMIT, "refused"),
        # .it
        Case(
            "it-ok",
            "whois.nic.it",
            "pasticceria-ferri.it",
            nic_it("pasticceria-ferri.it", "ok", d(140, ymd)),
            "active",
            ("ok",),
            expires_in=140,
        ),
        Case(
            "it-auto-renew",
            "whois.nic.it",
            "gelateria-blu.it",
            nic_it("gelateria-blu.it", "ok / autoRenewPeriod", d(5, ymd)),
            "active",
            ("ok", "autoRenewPeriod"),
            expires_in=5,
            grace=True,
        ),
        Case(
            "it-redemption",
            "whois.nic.it",
            "trattoria-sole.it",
            nic_it("trattoria-sole.it", "pendingDelete / redemptionPeriod", d(-20, ymd)),
            "lapsed",
            ("pendingDelete", "redemptionPeriod"),
            expires_in=-20,
            grace=True,
        ),
        Case(
            "it-no-registrar-expired",
            "whois.nic.it",
            "ferramenta-neri.it",
            nic_it("ferramenta-neri.it", "inactive / noRegistrar", d(-3, ymd)),
            "lapsed",
            ("inactive", "noRegistrar"),
            expires_in=-3,
            grace=True,
        ),
        Case(
            "it-to-be-reassigned",
            "whois.nic.it",
            "ottica-verdi.it",
            nic_it("ottica-verdi.it", "inactive / toBeReassigned", d(100, ymd)),
            "lapsed",
            ("inactive", "toBeReassigned"),
            grace=True,
        ),
        Case(
            "it-dns-hold",
            "whois.nic.it",
            "libreria-po.it",
            nic_it("libreria-po.it", "inactive / dnsHold", d(300, ymd)),
            "active",
            expires_in=300,
        ),
        Case(
            "it-available",
            "whois.nic.it",
            "nessuno-qui.it",
            nic_it_short("nessuno-qui.it", "AVAILABLE"),
            "lapsed",
            NOT_FOUND,
        ),
        Case(
            "it-unassignable",
            "whois.nic.it",
            "po.it",
            nic_it_short("po.it", "UNASSIGNABLE"),
            "inconclusive",
            ("UNASSIGNABLE",),
        ),
        Case(
            "it-unavailable",
            "whois.nic.it",
            "pasticceria-ferri.it",
            lf("Service temporarily unavailable.\n"),
            "refused",
        ),
        # EURid
        Case("eu-registered", "whois.eu", "atelier-dupont.eu", eurid("atelier-dupont.eu"), "active", ()),
        Case(
            "eu-available",
            "whois.eu",
            "personne-ici.eu",
            eurid_status("personne-ici.eu", "AVAILABLE"),
            "lapsed",
            NOT_FOUND,
        ),
        Case(
            "eu-grace",
            "whois.eu",
            "atelier-dupont.eu",
            eurid_grace("atelier-dupont.eu", 3600),
            "refused",
            retry_after=3600,
        ),
        # DNS Belgium
        Case(
            "be-registered",
            "whois.dns.be",
            "bakkerij-peeters.be",
            dns_be("bakkerij-peeters.be", "NOT AVAILABLE"),
            "active",
            ("NOT AVAILABLE",),
        ),
        Case(
            "be-quarantine",
            "whois.dns.be",
            "oude-winkel.be",
            dns_be("oude-winkel.be", "QUARANTINE"),
            "lapsed",
            ("QUARANTINE",),
            grace=True,
        ),
        Case(
            "be-out-of-service",
            "whois.dns.be",
            "verlaten-zaak.be",
            dns_be("verlaten-zaak.be", "OUT OF SERVICE"),
            "lapsed",
            ("OUT OF SERVICE",),
            grace=True,
        ),
        Case(
            "be-available",
            "whois.dns.be",
            "niemand-hier.be",
            dns_be("niemand-hier.be", "AVAILABLE"),
            "lapsed",
            NOT_FOUND,
        ),
        Case("be-hourly", "whois.dns.be", "bakkerij-peeters.be", BE_HOURLY, "refused"),
        Case("be-blocked", "whois.dns.be", "bakkerij-peeters.be", BE_BLOCKED, "refused"),
        # SWITCH
        Case("ch-registered", "whois.nic.ch", "uhren-keller.ch", switch("uhren-keller.ch"), "active", ()),
        Case("li-registered", "whois.nic.li", "alpen-schmiede.li", switch("alpen-schmiede.li"), "active", ()),
        Case("ch-not-registered", "whois.nic.ch", "niemand.ch", SWITCH_NOT_REGISTERED, "lapsed", NOT_FOUND),
        Case("ch-no-entry", "whois.nic.ch", "niemand.ch", SWITCH_NO_ENTRY, "lapsed", NOT_FOUND),
        Case("ch-not-permitted", "whois.nic.ch", "uhren-keller.ch", SWITCH_NOT_PERMITTED, "refused"),
        # JPRS
        Case(
            "jp-active",
            "whois.jprs.jp",
            "sakura-pan.jp",
            jprs("sakura-pan.jp", "Active", d(245, "%Y/%m/%d")),
            "active",
            ("Active",),
            expires_in=245,
        ),
        Case(
            "jp-to-be-suspended",
            "whois.jprs.jp",
            "yuki-cafe.jp",
            jprs("yuki-cafe.jp", "To be suspended", d(20, "%Y/%m/%d")),
            "lapsed",
            ("To be suspended",),
            expires_in=20,
            grace=True,
        ),
        Case(
            "jp-suspended",
            "whois.jprs.jp",
            "kaze-shop.jp",
            jprs("kaze-shop.jp", "Suspended", d(-9, "%Y/%m/%d")),
            "lapsed",
            ("Suspended",),
            expires_in=-9,
            grace=True,
        ),
        Case(
            "jp-reserved",
            "whois.jprs.jp",
            "example.jp",
            jprs("example.jp", "Reserved", "", created=""),
            "inconclusive",
            ("Reserved",),
        ),
        Case(
            "jp-co-connected",
            "whois.jprs.jp",
            "kawase.co.jp",
            jprs_co("kawase.co.jp", f"Connected ({d(123, '%Y/%m/%d')})"),
            "active",
            ("Connected",),
            expires_in=123,
        ),
        Case(
            "jp-co-deleted",
            "whois.jprs.jp",
            "kawase-old.co.jp",
            jprs_co("kawase-old.co.jp", f"Deleted ({d(-400, '%Y/%m/%d')})"),
            "lapsed",
            ("Deleted",),
            grace=True,
        ),
        Case("jp-no-match", "whois.jprs.jp", "nanimonai.jp", JP_NO_MATCH, "lapsed", NOT_FOUND),
        # CNNIC
        Case(
            "cn-registered",
            "whois.cnnic.cn",
            "qingshan-tea.cn",
            cnnic("qingshan-tea.cn", ["clientTransferProhibited"], d(169, "%Y-%m-%d 15:50:04")),
            "active",
            ("clientTransferProhibited",),
            expires_in=169,
        ),
        Case(
            "cn-hold-expired",
            "whois.cnnic.cn",
            "jiu-dian.cn",
            cnnic("jiu-dian.cn", ["serverHold"], d(-12, "%Y-%m-%d 15:50:04")),
            "lapsed",
            ("serverHold",),
            expires_in=-12,
            grace=True,
        ),
        Case(
            "cn-hold-not-expired",
            "whois.cnnic.cn",
            "jiu-dian-2.cn",
            cnnic("jiu-dian-2.cn", ["serverHold"], d(90, "%Y-%m-%d 15:50:04")),
            "active",
            ("serverHold",),
        ),
        Case("cn-no-match", "whois.cnnic.cn", "meiyou.cn", CN_NO_MATCH, "lapsed", NOT_FOUND),
        Case("cn-prohibited", "whois.cnnic.cn", "jinzhi.cn", CN_PROHIBITED, "inconclusive"),
        # TCI
        Case(
            "ru-registered",
            "whois.tcinet.ru",
            "volga-pekarnya.ru",
            tci("volga-pekarnya.ru", "REGISTERED, DELEGATED, VERIFIED", d(219, "%Y-%m-%dT21:00:00Z"), d(251, ymd)),
            "active",
            ("REGISTERED", "DELEGATED", "VERIFIED"),
            expires_in=219,
        ),
        Case(
            "ru-unpaid",
            "whois.tcinet.ru",
            "staraya-lavka.ru",
            tci("staraya-lavka.ru", "REGISTERED, NOT DELEGATED, VERIFIED", d(-5, "%Y-%m-%dT21:00:00Z"), d(25, ymd)),
            "lapsed",
            expires_in=-5,
            grace=True,
        ),
        Case("ru-no-entries", "whois.tcinet.ru", "nikogo.ru", RU_NO_ENTRIES, "lapsed", NOT_FOUND),
        Case("ru-rate", "whois.tcinet.ru", "volga-pekarnya.ru", RU_RATE, "refused"),
        # Identity Digital (.io, .me)
        Case(
            "io-registered",
            "whois.nic.io",
            "tidepool.io",
            icann("tidepool.io", ["clientTransferProhibited"], d(181, iso), upper=True),
            "active",
            ("clientTransferProhibited",),
            expires_in=181,
        ),
        Case(
            "io-pending-delete",
            "whois.nic.io",
            "driftwood.io",
            icann("driftwood.io", ["pendingDelete"], d(-40, iso)),
            "lapsed",
            ("pendingDelete",),
            grace=True,
        ),
        Case(
            "io-not-found", "whois.nic.io", "nobody-here.io", icann_not_found("Domain not found."), "lapsed", NOT_FOUND
        ),
        Case("io-reserved", "whois.nic.io", "registry.io", icann_not_found("Reserved by Registry"), "inconclusive"),
        Case(
            "me-registered",
            "whois.nic.me",
            "studio-luka.me",
            icann("studio-luka.me", ["clientDeleteProhibited", "clientUpdateProhibited"], d(249, iso)),
            "active",
            ("clientDeleteProhibited", "clientUpdateProhibited"),
            expires_in=249,
        ),
        Case("me-not-found", "whois.nic.me", "nobody-here.me", icann_not_found("NOT FOUND"), "lapsed", NOT_FOUND),
        # GoDaddy Registry (.co, .us)
        Case(
            "co-registered",
            "whois.registry.co",
            "cafe-andino.co",
            icann("cafe-andino.co", ["clientUpdateProhibited"], d(87, "%Y-%m-%dT23:59:59Z")),
            "active",
            expires_in=87,
        ),
        Case(
            "co-expired",
            "whois.registry.co",
            "flor-seca.co",
            icann("flor-seca.co", ["clientHold"], d(-2, "%Y-%m-%dT23:59:59Z")),
            "lapsed",
            ("clientHold",),
            grace=True,
        ),
        Case("co-no-data", "whois.registry.co", "nadie-aqui.co", icann_not_found("No Data Found"), "lapsed", NOT_FOUND),
        Case(
            "us-registered",
            "whois.nic.us",
            "prairie-goods.us",
            icann("prairie-goods.us", ["clientTransferProhibited"], d(140, "%Y-%m-%dT23:59:59Z")),
            "active",
            expires_in=140,
        ),
        Case(
            "us-redemption",
            "whois.nic.us",
            "dusty-road.us",
            icann("dusty-road.us", ["redemptionPeriod"], d(-35, "%Y-%m-%dT23:59:59Z")),
            "lapsed",
            ("redemptionPeriod",),
            grace=True,
        ),
        Case("us-no-data", "whois.nic.us", "nobody-here.us", lf("No Data Found\n" + ICANN_TAIL), "lapsed", NOT_FOUND),
        # Verisign (thin; has RDAP, WHOIS for completeness)
        Case(
            "com-registered",
            "whois.verisign-grs.com",
            "harbour-books.com",
            icann("harbour-books.com", ["clientTransferProhibited"], d(300, iso), upper=True),
            "active",
            expires_in=300,
        ),
        Case(
            "com-no-match",
            "whois.verisign-grs.com",
            "nobody-here.com",
            icann_not_found('No match for "NOBODY-HERE.COM".'),
            "lapsed",
            NOT_FOUND,
        ),
        # Internetstiftelsen
        Case(
            "se-active",
            "whois.iis.se",
            "fjallstuga.se",
            iis("fjallstuga.se", "active", ["serverUpdateProhibited"], d(290, ymd)),
            "active",
            ("active", "serverUpdateProhibited"),
            expires_in=290,
        ),
        Case(
            "se-deactivated",
            "whois.iis.se",
            "gamla-butiken.se",
            iis("gamla-butiken.se", "deactivated", ["serverHold"], d(-40, ymd)),
            "lapsed",
            ("deactivated", "serverHold"),
            expires_in=-40,
            grace=True,
        ),
        Case(
            "nu-active",
            "whois.iis.nu",
            "vantage.nu",
            iis("vantage.nu", "active", [], d(30, ymd)),
            "active",
            ("active",),
            expires_in=30,
        ),
        Case("se-not-found", "whois.iis.se", "ingen-har.se", iis_not_found("ingen-har.se"), "lapsed", NOT_FOUND),
        # nic.at
        Case("at-registered", "whois.nic.at", "konditorei-gruber.at", nic_at("konditorei-gruber.at"), "active", ()),
        Case("at-nothing", "whois.nic.at", "niemand.at", AT_NOTHING, "lapsed", NOT_FOUND),
        # Punktum dk
        Case(
            "dk-active",
            "whois.punktum.dk",
            "nordlys-bager.dk",
            punktum("nordlys-bager.dk", "Active", d(122, ymd)),
            "active",
            ("Active",),
            expires_in=122,
        ),
        Case(
            "dk-deactivated",
            "whois.punktum.dk",
            "gammel-kro.dk",
            punktum("gammel-kro.dk", "Deactivated", d(-20, ymd)),
            "lapsed",
            ("Deactivated",),
            expires_in=-20,
            grace=True,
        ),
        Case("dk-no-entries", "whois.punktum.dk", "ingen-her.dk", DK_NO_ENTRIES, "lapsed", NOT_FOUND),
        Case("dk-too-many", "whois.punktum.dk", "nordlys-bager.dk", DK_TOO_MANY, "refused"),
        # InternetNZ
        Case(
            "nz-active",
            "whois.irs.net.nz",
            "kiwi-bakehouse.nz",
            irs_nz("kiwi-bakehouse.nz", "200 Active"),
            "active",
            ("200 Active",),
        ),
        Case(
            "nz-pending-release",
            "whois.irs.net.nz",
            "old-wharf.co.nz",
            irs_nz("old-wharf.co.nz", "210 PendingRelease"),
            "lapsed",
            ("210 PendingRelease",),
            grace=True,
        ),
        Case(
            "nz-available",
            "whois.irs.net.nz",
            "nobody-here.nz",
            irs_nz("nobody-here.nz", "220 Available"),
            "lapsed",
            NOT_FOUND,
        ),
        Case(
            "nz-denied",
            "whois.irs.net.nz",
            "kiwi-bakehouse.nz",
            irs_nz("kiwi-bakehouse.nz", "440 Request Denied"),
            "refused",
        ),
        # TWNIC
        Case(
            "tw-registered",
            "whois.twnic.net.tw",
            "formosa-tea.com.tw",
            twnic("formosa-tea.com.tw", "clientUpdateProhibited,clientTransferProhibited", d(345, "%Y-%m-%d 00:00:00")),
            "active",
            ("clientUpdateProhibited", "clientTransferProhibited"),
            expires_in=345,
        ),
        Case("tw-no-found", "whois.twnic.net.tw", "nobody-here.tw", TW_NO_FOUND, "lapsed", NOT_FOUND),
        # KISA
        Case(
            "kr-registered",
            "whois.kr",
            "hanbit-bakery.kr",
            kisa("hanbit-bakery.kr", d(103, "%Y. %m. %d.")),
            "active",
            (),
            expires_in=103,
        ),
        Case(
            "kr-expired",
            "whois.kr",
            "old-bakery.kr",
            kisa("old-bakery.kr", d(-10, "%Y. %m. %d.")),
            "lapsed",
            expires_in=-10,
            grace=True,
        ),
        Case(
            "kr-idn-euc-kr",
            "whois.kr",
            ace(IDN_KR),
            kisa(ace(IDN_KR), d(50, "%Y. %m. %d."), unicode_name=IDN_KR, encoding="euc-kr"),
            "active",
            expires_in=50,
        ),
        Case("kr-not-found", "whois.kr", "nobody-here.kr", kisa_not_found("nobody-here.kr"), "lapsed", NOT_FOUND),
        # TRABIS
        Case(
            "tr-registered",
            "whois.trabis.gov.tr",
            "ege-firin.com.tr",
            trabis("ege-firin.com.tr", d(265, "%Y-%b-%d.")),
            "active",
            (),
            expires_in=265,
        ),
        Case(
            "tr-idn-cp1254",
            "whois.trabis.gov.tr",
            ace(IDN_TR),
            trabis(ace(IDN_TR), d(60, "%Y-%b-%d."), unicode_name=IDN_TR),
            "active",
            expires_in=60,
        ),
        Case(
            "tr-expired",
            "whois.trabis.gov.tr",
            "eski-firin.com.tr",
            trabis("eski-firin.com.tr", d(-30, "%Y-%b-%d.")),
            "lapsed",
            expires_in=-30,
            grace=True,
        ),
        Case(
            "tr-no-match",
            "whois.trabis.gov.tr",
            "kimse-yok.com.tr",
            trabis_no_match("kimse-yok.com.tr"),
            "lapsed",
            NOT_FOUND,
        ),
        # Traficom
        Case(
            "fi-registered",
            "whois.fi",
            "saimaan-kala.fi",
            traficom("saimaan-kala.fi", "Registered", d(200, "{d}.{m}.%Y 10:46:30")),
            "active",
            ("Registered",),
            expires_in=200,
        ),
        Case(
            "fi-idn-latin1",
            "whois.fi",
            ace(IDN_FI),
            traficom(ace(IDN_FI), "Registered", d(77, "{d}.{m}.%Y 10:46:30"), unicode_name=IDN_FI),
            "active",
            ("Registered",),
            expires_in=77,
        ),
        Case(
            "fi-expired",
            "whois.fi",
            "vanha-kauppa.fi",
            traficom("vanha-kauppa.fi", "Registered", d(-4, "{d}.{m}.%Y 10:46:30")),
            "lapsed",
            expires_in=-4,
            grace=True,
        ),
        Case("fi-not-found", "whois.fi", "ei-kukaan.fi", FI_NOT_FOUND, "lapsed", NOT_FOUND),
        # IRNIC
        Case(
            "ir-registered",
            "whois.nic.ir",
            "shirini-saray.ir",
            irnic("shirini-saray.ir", d(388, ymd)),
            "active",
            (),
            expires_in=388,
        ),
        Case("ir-no-entries", "whois.nic.ir", "hichkas.ir", irnic_none("hichkas.ir"), "lapsed", NOT_FOUND),
        # NASK
        Case(
            "pl-registered",
            "whois.dns.pl",
            "wisla-piekarnia.pl",
            nask("wisla-piekarnia.pl", d(171, "%Y.%m.%d 00:00:00"), d(-1, "%Y.%m.%d 12:01:14")),
            "active",
            (),
            expires_in=171,
        ),
        Case("pl-no-information", "whois.dns.pl", "nikogo-tu.pl", nask_none("nikogo-tu.pl"), "lapsed", NOT_FOUND),
        Case("pl-limit", "whois.dns.pl", "wisla-piekarnia.pl", PL_LIMIT, "refused"),
        # Nominet
        Case(
            "uk-registered",
            "whois.nic.uk",
            "harbour-fish.co.uk",
            nominet("harbour-fish.co.uk", ["Registered until expiry date."], "Expiry date", d(339, "%d-%b-%Y")),
            "active",
            ("Registered until expiry date.",),
            expires_in=339,
        ),
        Case(
            "uk-renewal-processing",
            "whois.nic.uk",
            "corner-deli.co.uk",
            nominet("corner-deli.co.uk", ["Renewal request being processed."], "Renewal date", d(300, "%d-%b-%Y")),
            "active",
            expires_in=300,
        ),
        Case(
            "uk-suspended",
            "whois.nic.uk",
            "closed-cafe.co.uk",
            nominet(
                "closed-cafe.co.uk",
                ["Renewal required.", "*** This registration has been SUSPENDED. ***"],
                "Expiry date",
                d(-45, "%d-%b-%Y"),
            ),
            "lapsed",
            ("Renewal required.", "This registration has been SUSPENDED."),
            expires_in=-45,
            grace=True,
        ),
        Case(
            "uk-no-match",
            "whois.nic.uk",
            "nobody-here.co.uk",
            nominet_no_match("nobody-here.co.uk"),
            "lapsed",
            NOT_FOUND,
        ),
        Case(
            "uk-quota",
            "whois.nic.uk",
            "harbour-fish.co.uk",
            nominet_quota("harbour-fish.co.uk", 50),
            "refused",
            retry_after=50,
        ),
    ]


# A registered answer with any status, for the registries that publish one: (domain, status, expires in days, now).
RECORDS: dict[str, Callable[[str, str, float, float], bytes]] = {
    "DENIC": lambda domain, status, days, now: denic(domain, status),
    "Registro .it": lambda domain, status, days, now: nic_it(domain, status, on(now, days, "%Y-%m-%d")),
    "EURid": lambda domain, status, days, now: eurid_status(domain, status),
    "DNS Belgium": lambda domain, status, days, now: dns_be(domain, status),
    "JPRS": lambda domain, status, days, now: jprs(domain, status, on(now, days, "%Y/%m/%d")),
    "TCI (.ru, .su, .рф)": lambda domain, status, days, now: tci(
        domain, status, on(now, days, "%Y-%m-%dT21:00:00Z"), on(now, days + 30, "%Y-%m-%d")
    ),
    "Internetstiftelsen": lambda domain, status, days, now: iis(domain, status, [], on(now, days, "%Y-%m-%d")),
    "Punktum dk": lambda domain, status, days, now: punktum(domain, status, on(now, days, "%Y-%m-%d")),
    "InternetNZ": lambda domain, status, days, now: irs_nz(domain, status),
    "Traficom": lambda domain, status, days, now: traficom(domain, status, on(now, days, "{d}.{m}.%Y 10:46:30")),
    "Nominet": lambda domain, status, days, now: nominet(domain, [status], "Expiry date", on(now, days, "%d-%b-%Y")),
}
