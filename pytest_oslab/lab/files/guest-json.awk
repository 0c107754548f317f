# Flattens a JSON document into "path=value" lines, one for each string, number, true, false or null:
# an object member adds ".name" to the path, an array item ".N" (from 0). String escapes are decoded
# (\uXXXX is left as it is); a value holding newlines gives one line for each of its non-empty lines.
# Enough for nova's meta_data.json in a busybox guest:
#   {"public_keys": {"k1": "ssh-ed25519 AAAA x\n"}, "hostname": "vm-1.novalocal"}
# gives
#   public_keys.k1=ssh-ed25519 AAAA x
#   hostname=vm-1.novalocal
# Exits 1 on text that is not JSON.

{ text = text $0 "\n" }

function path(    p, d) {
    p = ""
    for (d = 1; d <= depth; d++)
        p = p (d > 1 ? "." : "") (kind[d] == "o" ? key[d] : item[d])
    return p
}

function emit(value,    n, i, lines, p) {
    p = path()
    n = split(value, lines, "\n")
    for (i = 1; i <= n; i++)
        if (lines[i] != "")
            print p "=" lines[i]
}

function unescape(s,    out, i, c) {
    out = ""
    while ((i = index(s, "\\")) > 0) {
        out = out substr(s, 1, i - 1)
        c = substr(s, i + 1, 1)
        s = substr(s, i + 2)
        if (c == "n") out = out "\n"
        else if (c == "t") out = out "\t"
        else if (c == "u") out = out "\\u"
        else if (c != "r" && c != "b" && c != "f") out = out c
    }
    return out s
}

END {
    s = text
    depth = 0
    while (s != "") {
        c = substr(s, 1, 1)
        if (c == " " || c == "\t" || c == "\n" || c == "\r" || c == ":") {
            s = substr(s, 2)
        } else if (c == "{" || c == "[") {
            depth++
            kind[depth] = (c == "{") ? "o" : "a"
            item[depth] = 0
            key[depth] = ""
            wantkey[depth] = (c == "{")
            s = substr(s, 2)
        } else if (c == "}" || c == "]") {
            depth--
            s = substr(s, 2)
        } else if (c == ",") {
            if (kind[depth] == "a") item[depth]++
            else wantkey[depth] = 1
            s = substr(s, 2)
        } else if (c == "\"") {
            if (!match(s, /^"([^"\\]|\\.)*"/)) exit 1
            token = unescape(substr(s, 2, RLENGTH - 2))
            s = substr(s, RLENGTH + 1)
            if (kind[depth] == "o" && wantkey[depth]) {
                key[depth] = token
                wantkey[depth] = 0
            } else {
                emit(token)
            }
        } else {
            if (!match(s, /^[^] \t\r\n,:}]+/)) exit 1
            emit(substr(s, 1, RLENGTH))
            s = substr(s, RLENGTH + 1)
        }
    }
}
