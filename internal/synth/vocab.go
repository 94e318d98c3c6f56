package synth

import (
	"math/rand/v2"
	"strings"
)

// words are the vocabulary of generated sentences; about one in ten is not
// ASCII.
var words = strings.Fields(`
the a an and or but if then because so when while before after about
I you we they it this that these those my your our their some any every
can could would should will may might must do does did have has had is are was were be been
flight booking ticket order refund invoice account password email address payment card
weather forecast city trip hotel room dinner recipe chicken rice pepper garlic lemon
code function error bug test build deploy server database query index table column
report chart data file folder photo video message meeting calendar schedule reminder
please thanks sorry hello help explain show tell find check change cancel update book
today tomorrow yesterday morning evening week month year time date hour minute
quick simple detailed short long better best easy hard new old open closed available
price cost total amount number list example step option plan result answer question
how what why where which who whose whom
café naïve résumé Zürich München façade jalapeño crème brûlée São Paulo
日本語 東京 北京 上海 会议 数据 Привет данные σύστημα ✓ € 🙂
`)

// codeSnippets are pasted into some assistant messages.
var codeSnippets = []string{
	"```go\nfor i, v := range items {\n\tfmt.Println(i, v)\n}\n```",
	"```python\ndef total(xs):\n    return sum(x.price for x in xs)\n```",
	"```sql\nSELECT city, COUNT(*) AS n\nFROM bookings\nGROUP BY city\nORDER BY n DESC;\n```",
	"```json\n{\"status\": \"ok\", \"items\": [1, 2, 3]}\n```",
}

// sentences is a fixed table of sentences built from words, so that
// messages are assembled from whole sentences (one random draw each).
var sentences = buildSentences(512)

func buildSentences(n int) []string {
	r := rand.New(rand.NewPCG(0x5eed, 0xc0ffee)) // fixed: the table never changes
	out := make([]string, n)
	ends := []string{".", ".", ".", "?", "!"}
	var b strings.Builder
	for i := range out {
		b.Reset()
		k := 5 + r.IntN(14)
		for j := range k {
			w := words[r.IntN(len(words))]
			if j == 0 {
				for w[0] >= 0x80 { // start with a word that has a capital
					w = words[r.IntN(len(words))]
				}
				w = strings.ToUpper(w[:1]) + w[1:]
			} else {
				b.WriteByte(' ')
			}
			b.WriteString(w)
		}
		b.WriteString(ends[r.IntN(len(ends))])
		out[i] = b.String()
	}
	return out
}

// titles are given to some conversations.
var titles = []string{
	"Booking a flight", "Recipe ideas", "Fixing a failing test", "Weather this week",
	"Refund request", "SQL help", "Trip to Zürich", "会议安排", "Password reset", "Résumé review",
}

// tools are what tool calls call: an argument and a result template, where
// $S stands for a string argument and $N for a number.
var tools = []struct{ name, args, result string }{
	{"get_weather", `{"city":"$S"}`, `{"city":"$S","temperature_c":$N,"conditions":"cloudy"}`},
	{"search_flights", `{"origin":"JFK","destination":"$S"}`, `{"flights":[{"number":"HAT$N","price":$N}]}`},
	{"lookup_order", `{"order_id":"$S"}`, `{"order_id":"$S","status":"shipped","items":$N}`},
	{"calculate", `{"expression":"$S"}`, `{"expression":"$S","value":$N}`},
}

// toolArgs are the $S of tool templates; none needs escaping in JSON.
var toolArgs = []string{"Paris", "Seattle", "Zürich", "東京", "São Paulo", "Berlin", "A1B2C3", "12*7"}
