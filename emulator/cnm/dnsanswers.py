"""What the embedded DNS answers to one query, as Docker 28's resolver does.

libnetwork's Resolver.serveDNS (libnetwork/resolver.go, v28.5.2): A (IPv4) and
AAAA (IPv6) from the container's networks (a known name with no address of the
family asked, such as AAAA for an IPv4-only container, is NOERROR with no answer,
never forwarded); MX for a known name is NOERROR with no answer; PTR for container
addresses of both families (in-addr.arpa and ip6.arpa, answered `name.network.`);
everything else, and every
name no network knows, goes to the upstream servers, whose answer (NXDOMAIN
included) is relayed; SERVFAIL when none answers. A container whose resolv.conf
sets ndots gets NOERROR with no answer for a single-label name no network knows
(the client then tries its search domains). Answers carry TTL 600 and RA, and are
truncated (TC) to 512 bytes on UDP unless the query's EDNS allows more.

Pure functions of the query and a `NameTable`: the wire format is dnspython's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from emulator.cnm.dnsnames import NameTable

RESPONSE_TTL = 600
MIN_UDP_SIZE = 512
MAX_TCP_SIZE = 65535
PTR_IPV4_DOMAIN = ".in-addr.arpa."
PTR_IPV6_DOMAIN = ".ip6.arpa."


@dataclass(frozen=True)
class Forward:
    """The query goes to the upstream servers; their answer is the reply."""

    query: dns.message.Message


def parse(wire: bytes) -> dns.message.Message | bytes | None:
    """The query, or the reply its header alone calls for (miekg/dns's default
    acceptance: a response is ignored (None), another opcode is NOTIMP, anything but
    one question is FORMERR), or None when it is not DNS at all."""
    try:
        query = dns.message.from_wire(wire, ignore_trailing=True)
    except dns.exception.DNSException:
        return None
    if query.flags & dns.flags.QR:
        return None
    if query.opcode() != dns.opcode.QUERY:
        return _failure(query, dns.rcode.NOTIMP)
    if len(query.question) != 1:
        return _failure(query, dns.rcode.FORMERR)
    return query


def answer(table: NameTable, container_id: str, query: dns.message.Message, tcp: bool,
           ndots_set: bool = False) -> bytes | Forward:
    """The reply to `query` from container `container_id`, or Forward."""
    question = query.question[0]
    name = question.name.to_text()
    qtype = question.rdtype
    reply: dns.message.Message | None = None
    if qtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        found = table.resolve_name(container_id, name, ipv6=qtype == dns.rdatatype.AAAA)
        if found.found:
            reply = _reply(query)
            addresses = list(found.addresses)
            random.shuffle(addresses)
            if addresses:
                records = dns.rrset.RRset(question.name, dns.rdataclass.IN, qtype)
                for address in addresses:
                    records.add(_address_record(qtype, str(address)), RESPONSE_TTL)
                reply.answer.append(records)
    elif qtype == dns.rdatatype.MX:
        if table.resolve_name(container_id, name).found:
            reply = _reply(query)
    elif qtype == dns.rdatatype.PTR:
        reply = _pointer(table, container_id, query, name)
    if reply is None:
        single_label = "." not in name.removesuffix(".")
        if ndots_set and single_label and qtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            return _reply(query).to_wire()
        return Forward(query)
    return reply.to_wire(max_size=_max_size(query, tcp), prefer_truncation=True)


@lru_cache(maxsize=4096)
def _address_record(qtype: dns.rdatatype.RdataType, address: str) -> dns.rdata.Rdata:
    """One A (or AAAA) record's data; made once per address (they are immutable)."""
    return dns.rdata.from_text(dns.rdataclass.IN, qtype, address)


def servfail(query: dns.message.Message) -> bytes:
    """No upstream server answered (or none may be asked)."""
    return _failure(query, dns.rcode.SERVFAIL)


def _pointer(table: NameTable, container_id: str, query: dns.message.Message,
             name: str) -> dns.message.Message | None:
    # libnetwork cuts the suffix as written (case-sensitive); anything else is forwarded
    if not name.endswith((PTR_IPV4_DOMAIN, PTR_IPV6_DOMAIN)):
        return None
    target = table.resolve_address(container_id, name.removesuffix("."))
    if target is None:
        return None
    reply = _reply(query)
    reply.answer.append(dns.rrset.from_text(query.question[0].name, RESPONSE_TTL,
                                            dns.rdataclass.IN, dns.rdatatype.PTR,
                                            target + "."))
    return reply


def _reply(query: dns.message.Message) -> dns.message.Message:
    """miekg's SetReply plus RecursionAvailable (libnetwork's createRespMsg): the
    question, ID, RD and CD of the query; no EDNS record of its own."""
    reply = dns.message.make_response(query)
    reply.use_edns(False)
    reply.flags |= dns.flags.RA
    return reply


def _failure(query: dns.message.Message, rcode: dns.rcode.Rcode) -> bytes:
    """miekg's SetRcode(query, rcode): a reply without RA."""
    reply = dns.message.make_response(query)
    reply.use_edns(False)
    reply.set_rcode(rcode)
    return reply.to_wire()


def _max_size(query: dns.message.Message, tcp: bool) -> int:
    if tcp:
        return MAX_TCP_SIZE
    return max(MIN_UDP_SIZE, query.payload if query.edns >= 0 else 0)
