// Produces the test vectors of src/provision/madmin.rs with MinIO's own madmin package:
// bodies sealed by madmin.EncryptData (Argon2id by default, PBKDF2 when built with -tags fips)
// and the opening by madmin.DecryptData of a body the operator sealed.
//
//	go run . seal <password> <plaintext>           # hex of a sealed body
//	go run -tags fips . seal <password> <plaintext>
//	go run . open <password> <hex>                 # the plaintext, or an error
package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/minio/madmin-go/v3"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: seal|open <password> <plaintext|hex>")
		os.Exit(2)
	}
	password, arg := os.Args[2], os.Args[3]
	switch os.Args[1] {
	case "seal":
		sealed, err := madmin.EncryptData(password, []byte(arg))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(hex.EncodeToString(sealed))
	case "open":
		body, err := hex.DecodeString(arg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		plain, err := madmin.DecryptData(password, bytes.NewReader(body))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Print(string(plain))
	default:
		os.Exit(2)
	}
}
