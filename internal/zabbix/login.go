package zabbix

import (
	"context"
	"errors"
	"fmt"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/secret"
)

// Login connects to the API of the inventory's zabbix section, with its token file or
// its username and password file.
func Login(ctx context.Context, z config.Zabbix) (*API, error) {
	if z.APIURL == "" {
		return nil, errors.New("zabbix.api_url is not set")
	}
	o := APIOptions{URL: z.APIURL, Timeout: z.Timeout}
	if z.APITokenFile != "" {
		tok, err := secret.ReadFile(z.APITokenFile)
		if err != nil {
			return nil, fmt.Errorf("zabbix.api_token_file: %w", err)
		}
		o.Token = tok
	} else {
		pw, err := secret.ReadFile(z.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("zabbix.password_file: %w", err)
		}
		o.Username, o.Password = z.Username, pw
	}
	return NewAPI(ctx, o)
}
